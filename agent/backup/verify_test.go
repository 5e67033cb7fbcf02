package backup

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRestoreVerifies: a restore has restic read every restored file back
// and check it against the snapshot (restore --verify) before the folders
// are swapped. restic is wrapped by a script on $PATH that logs each
// command line and runs the real binary, so the test sees what the agent
// asked restic to do.
func TestRestoreVerifies(t *testing.T) {
	needRestic(t)
	real, err := FindRestic()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	log := filepath.Join(bin, "argv.log")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >>" + log + "\nexec " + real + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "restic"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	if p, _ := FindRestic(); p != filepath.Join(bin, "restic") {
		t.Fatalf("FindRestic = %s, want the wrapper", p)
	}

	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	dir := writeTree(t, r.Config.Root, "nextcloud")
	want := treeHash(t, dir)
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatal(res.Err)
	}
	os.RemoveAll(dir)
	if _, err := r.Restore(ctx, RestoreOptions{Job: job("nextcloud")}); err != nil {
		t.Fatal(err)
	}
	if got := treeHash(t, dir); got != want {
		t.Errorf("restored tree differs:\n%s\nwant:\n%s", got, want)
	}
	data, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	var restores []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "restore" || strings.Contains(line, " restore ") {
			restores = append(restores, line)
		}
	}
	if len(restores) != 1 {
		t.Fatalf("want one restic restore, got %q\nall calls:\n%s", restores, data)
	}
	if !strings.Contains(" "+restores[0]+" ", " --verify ") {
		t.Errorf("restic restore without --verify: %s", restores[0])
	}
}
