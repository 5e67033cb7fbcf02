package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

func TestMain(m *testing.M) {
	testscript.Main(cleanupAfter{m}, map[string]func(){
		"homelab-agent": func() { os.Exit(execute(os.Args[1:])) },
	})
}

// cleanupAfter removes what the tests built once they have run.
type cleanupAfter struct{ m *testing.M }

func (c cleanupAfter) Run() int {
	defer cleanupBinary()
	return c.m.Run()
}

func params(t *testing.T, dir string) testscript.Params {
	fixtures, err := filepath.Abs("../../fixtures")
	if err != nil {
		t.Fatal(err)
	}
	return testscript.Params{
		Dir: dir,
		Setup: func(e *testscript.Env) error {
			e.Setenv("FIXTURES", fixtures)
			e.Setenv("LAB", filepath.Join(fixtures, "lab"))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exits CODE CMD ARGS...: run CMD and require that exit status.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: exits CODE command [args...]")
				}
				want, _ := strconv.Atoi(args[0])
				err := ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("%v", err)
				}
				if (got == want) == neg {
					ts.Fatalf("exit status %d, want %d", got, want)
				}
			},
		},
	}
}

// TestScripts runs the CLI scripts in testdata/script against the sample lab.
func TestScripts(t *testing.T) {
	testscript.Run(t, params(t, "testdata/script"))
}

// TestBrokenLabScripts runs validate, plan, apply and render on every lab
// under fixtures/broken: each exits 1 and prints exactly its error.txt.
func TestBrokenLabScripts(t *testing.T) {
	dirs, _ := filepath.Glob("../../fixtures/broken/*")
	if len(dirs) == 0 {
		t.Fatal("no broken labs")
	}
	scripts := t.TempDir()
	for _, d := range dirs {
		name := filepath.Base(d)
		script := fmt.Sprintf(`# %[1]s: every command reports the lab's errors and changes nothing.
exits 1 homelab-agent validate --repo $FIXTURES/broken/%[1]s
cmp stderr $FIXTURES/broken/%[1]s/error.txt
! stdout .
exits 1 homelab-agent plan --host dns1 --repo $FIXTURES/broken/%[1]s --root $WORK/root
cmp stderr $FIXTURES/broken/%[1]s/error.txt
exits 1 homelab-agent apply --host dns1 --repo $FIXTURES/broken/%[1]s --root $WORK/root
cmp stderr $FIXTURES/broken/%[1]s/error.txt
! exists $WORK/root
exits 1 homelab-agent render --host dns1 --repo $FIXTURES/broken/%[1]s --out $WORK/out
cmp stderr $FIXTURES/broken/%[1]s/error.txt
! exists $WORK/out
`, name)
		if err := os.WriteFile(filepath.Join(scripts, name+".txtar"), []byte(script), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	testscript.Run(t, params(t, scripts))
}
