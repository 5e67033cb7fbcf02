package state_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/state"
)

// TestRecoverMovesCorruptAside: Load refuses a corrupt file without
// touching it (plan stays read-only); Recover moves it aside and starts
// afresh, saying where it went; a good file is read as it is.
func TestRecoverMovesCorruptAside(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, state.Path)
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("{not json"), 0o600)

	_, err := state.Load(root)
	var ce *state.CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("Load of a corrupt file: %v, want a CorruptError", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("Load moved the file: %v", err)
	}
	st, err := state.Recover(root)
	if err != nil || st.LastGoodCommit != "" || !strings.Contains(st.Recovered, "was corrupt") {
		t.Fatalf("Recover: %+v, %v", st, err)
	}
	aside, _ := filepath.Glob(path + ".corrupt-*")
	if len(aside) != 1 || !strings.Contains(st.Recovered, aside[0]) {
		t.Fatalf("moved aside to %v; Recovered %q", aside, st.Recovered)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the corrupt file is still in place: %v", err)
	}
	st.LastGoodCommit = "abc"
	if err := st.Save(root); err != nil {
		t.Fatal(err)
	}
	if st, err := state.Recover(root); err != nil || st.LastGoodCommit != "abc" || st.Recovered != "" {
		t.Fatalf("Recover of a good file: %+v, %v", st, err)
	}
	if b, _ := os.ReadFile(path); strings.Contains(string(b), "Recovered") {
		t.Errorf("Recovered was saved: %s", b)
	}
}
