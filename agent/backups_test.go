package agent_test

import (
	"slices"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
)

// TestHostBackupsOfSampleLab reads the sample lab: defaults, the photos
// host's schedule override, and one job per stateful service the hosts'
// roles declare.
func TestHostBackupsOfSampleLab(t *testing.T) {
	l, err := agent.LoadLab("../fixtures/lab")
	if err != nil {
		t.Fatal(err)
	}
	hb, err := agent.HostBackups(l, "photos", "")
	if err != nil {
		t.Fatal(err)
	}
	c := hb.Config
	if c.Schedule != "0 4 * * *" || c.PruneSchedule != backup.DefaultPruneSchedule || c.CheckSubset != "5%" || c.RandomDelay != backup.DefaultRandomDelay || !c.AutoRestore || c.Root != "/" {
		t.Errorf("config = %+v", c)
	}
	if got := c.SecretNames(); !slices.Equal(got, []string{backup.SecretPassword, backup.SecretAccessKey, backup.SecretSecretKey}) {
		t.Errorf("secrets = %v", got)
	}
	if hb.Jobs[0].Declared.Dump == nil || hb.Jobs[0].Declared.Quiesce != nil {
		t.Errorf("photos declares %+v, want a dump and no quiesce step", hb.Jobs[0].Declared)
	}
	for host, want := range map[string]string{"dns1": "", "vpn": "", "proxy": "traefik", "cloud": "nextcloud", "photos": "immich", "media": "jellyfin"} {
		hb, err := agent.HostBackups(l, host, "/")
		if err != nil {
			t.Fatal(err)
		}
		jobs := hb.Jobs
		got := ""
		if len(jobs) == 1 {
			got = jobs[0].Service
			if jobs[0].Host != host || !slices.Equal(jobs[0].Paths, []string{"/srv/data/" + want}) {
				t.Errorf("%s: job = %+v", host, jobs[0])
			}
		}
		if got != want {
			t.Errorf("%s: jobs %v, want %q", host, jobs, want)
		}
		if host == "cloud" {
			if hb.Config.Schedule != "30 3 * * *" {
				t.Errorf("cloud schedule = %q", hb.Config.Schedule)
			}
			if rs := backup.SelfRestores(hb.Config, jobs); len(rs) != 1 || rs[0].ID() != "restore:nextcloud" {
				t.Errorf("self-restore resources = %v", rs)
			}
		}
	}
}
