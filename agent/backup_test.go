package agent

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// TestPlanShowsBackupScheduleChange: the backup:schedule resource writes
// the host's schedule under a folder root by default, plan shows a
// schedule change as a diff, and turning backups off removes the file.
func TestPlanShowsBackupScheduleChange(t *testing.T) {
	l := loadSample(t)
	root := t.TempDir()
	opts := testOptions(root)
	opts.Only = []string{"backup"}
	ctx := context.Background()
	if _, err := Apply(ctx, l, "cloud", opts); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, backup.ScheduleFile)
	data, err := os.ReadFile(path)
	if err != nil || !strings.Contains(string(data), `schedule: "30 3 * * *"`) {
		t.Fatalf("schedule file: %v\n%s", err, data)
	}
	if rep, err := Plan(ctx, l, "cloud", opts); err != nil || rep.Changed {
		t.Fatalf("plan after apply: changed %v, %v", rep.Changed, err)
	}

	l.Backup.Schedule = "15 2 * * *"
	l.Backup.Keep.Daily = 14
	rep, err := Plan(ctx, l, "cloud", opts)
	if err != nil || len(rep.Changes) != 1 {
		t.Fatalf("plan: %v %+v", err, rep)
	}
	c := rep.Changes[0]
	t.Logf("%s: %s\n%s", c.ID, c.Summary, c.Diff)
	for _, want := range []string{`-schedule: "30 3 * * *"`, `+schedule: "15 2 * * *"`, "+keep: {daily: 14, weekly: 4, monthly: 6}"} {
		if c.ID != "backup:schedule" || c.Subsystem != "backup" || !strings.Contains(c.Diff, want) {
			t.Errorf("change %s (%s) lacks %q:\n%s", c.ID, c.Subsystem, want, c.Diff)
		}
	}

	l.Backup.Repository = ""
	rep, err = Apply(ctx, l, "cloud", opts)
	if err != nil || len(rep.Changes) != 1 || rep.Changes[0].Action != "delete" {
		t.Fatalf("backups off: %v %+v", err, rep.Changes)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("schedule file still there: %v", err)
	}
	// A host without backups has nothing to do.
	if rep, err := Plan(ctx, l, "cloud", opts); err != nil || rep.Changed {
		t.Fatalf("plan without backups: %v %+v", err, rep.Changes)
	}
}

// TestScheduleFileHasNoSecret: the repository is shown without
// credentials and secret references are not resolved into the file.
func TestScheduleFileHasNoSecret(t *testing.T) {
	l := loadSample(t)
	l.Backup.Repository = "rest:https://backup:hunter2@${secret:BACKUP_HOST}/lab"
	l.Backup.NotifyURL = "https://gotify.example/message?token=abc123"
	root := t.TempDir()
	opts := testOptions(root)
	opts.Only = []string{"backup"}
	if _, err := Apply(context.Background(), l, "cloud", opts); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(root, backup.ScheduleFile))
	for _, bad := range []string{"hunter2", "abc123", "${secret"} {
		if strings.Contains(string(data), bad) {
			t.Errorf("schedule file holds %q:\n%s", bad, data)
		}
	}
	if !strings.Contains(string(data), `repository: "rest:https://<secret BACKUP_HOST>/lab"`) {
		t.Errorf("repository not shown:\n%s", data)
	}
}

// TestSelfRestoreBeforeContainers: a stateful host's desired state has
// restore:<service> before containers:<service>, which depends on it.
func TestSelfRestoreBeforeContainers(t *testing.T) {
	l := loadSample(t)
	for _, host := range []string{"cloud", "photos", "media", "proxy"} {
		h, out, err := Desired(l, host, nil, fixedNow())
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]string, len(out.Resources))
		for i, r := range out.Resources {
			ids[i] = r.ID()
		}
		ri, ci := slices.Index(ids, "restore:"+h.Role), slices.Index(ids, "containers:"+h.Role)
		if ri < 0 || ci < 0 || ri > ci {
			t.Fatalf("%s: restore at %d, containers at %d: %v", host, ri, ci, ids)
		}
		if d, ok := out.Resources[ci].(resource.Depender); !ok || !slices.Contains(d.DependsOn(), "restore:"+h.Role) {
			t.Errorf("%s: containers:%s does not depend on its restore", host, h.Role)
		}
		if !slices.Contains(ids, "backup:schedule") {
			t.Errorf("%s: no backup:schedule: %v", host, ids)
		}
	}
	// auto_restore: false: no restore resource, no dependency.
	off := false
	l.Backup.AutoRestore = &off
	_, out, _ := Desired(l, "cloud", nil, fixedNow())
	for _, r := range out.Resources {
		if strings.HasPrefix(r.ID(), "restore:") {
			t.Errorf("auto_restore false still restores: %s", r.ID())
		}
	}
}
