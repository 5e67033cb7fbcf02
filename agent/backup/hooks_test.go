package backup_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

// TestHostJobsAttachRoleHooks: the roles' quiesce steps and dumps reach the
// jobs, with the dump's restore command, and hosts without state get none.
func TestHostJobsAttachRoleHooks(t *testing.T) {
	l, err := agent.LoadLab("../../fixtures/lab")
	if err != nil {
		t.Fatal(err)
	}
	h := backup.Hooks{DumpCommand: func(s string) []string { return []string{"/agent", "backup-dump", "--service", s} }}
	want := map[string]struct {
		service, dump, db string
		quiesce           bool
	}{
		"dns1": {}, "vpn": {},
		"proxy":  {service: "traefik"},
		"cloud":  {service: "nextcloud", quiesce: true, dump: "nextcloud-database", db: "db"},
		"photos": {service: "immich", dump: "immich-database", db: "database"},
		"media":  {service: "jellyfin", quiesce: true},
	}
	for host, w := range want {
		hb, err := agent.HostBackups(l, host, "/")
		if err != nil {
			t.Fatal(err)
		}
		jobs := backup.HostJobs(hb.Jobs, h)
		if w.service == "" {
			if len(jobs) != 0 {
				t.Errorf("%s: jobs %v, want none", host, jobs)
			}
			continue
		}
		if len(jobs) != 1 || jobs[0].Service != w.service {
			t.Fatalf("%s: jobs %+v", host, jobs)
		}
		j := jobs[0]
		if (j.Quiesce != nil) != w.quiesce || (len(j.Dumps) > 0) != (w.dump != "") {
			t.Errorf("%s: quiesce %v dumps %v", host, j.Quiesce != nil, j.Dumps)
		}
		if w.dump != "" {
			d := j.Dumps[0]
			if d.Name != w.dump || d.Container != w.db || len(d.Restore) == 0 || len(d.Check) == 0 || d.Command[len(d.Command)-1] != w.service {
				t.Errorf("%s: dump %+v", host, d)
			}
		}
	}
}

func TestWriteDumpRefusesServicesWithoutDump(t *testing.T) {
	svcs := []backup.Service{{Name: "jellyfin"}}
	for _, name := range []string{"jellyfin", "nothere"} {
		err := backup.WriteDump(context.Background(), svcs, name, backup.Env{}, nil)
		if err == nil || !errors.Is(err, backup.ErrKind(backup.KindConfig)) {
			t.Fatalf("%s: err = %v", name, err)
		}
	}
}

// fixedDump is a Dumper that writes its own text.
type fixedDump string

func (d fixedDump) DumpName() string { return string(d) + ".sql" }
func (d fixedDump) Dump(_ context.Context, _ backup.Env, w io.Writer) error {
	_, err := io.WriteString(w, "-- dump of "+string(d)+"\n")
	return err
}
func (d fixedDump) DumpRestore() (string, []string) { return "database", []string{"psql"} }
func (d fixedDump) DumpCheck() []string             { return []string{"true"} }

// TestWriteDumpStreamsTheNamedService: among several services with dumps,
// backup-dump streams the one restic asked for.
func TestWriteDumpStreamsTheNamedService(t *testing.T) {
	svcs := []backup.Service{{Name: "nextcloud", Dump: fixedDump("nextcloud")}, {Name: "immich", Dump: fixedDump("immich")}}
	for _, name := range []string{"nextcloud", "immich"} {
		var b strings.Builder
		if err := backup.WriteDump(context.Background(), svcs, name, backup.Env{}, &b); err != nil || b.String() != "-- dump of "+name+"\n" {
			t.Fatalf("dump of %s: %q %v", name, b.String(), err)
		}
	}
}
