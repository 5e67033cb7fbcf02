package docker

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

func labOn(cidr, vpn string) *lab.Lab {
	l := &lab.Lab{}
	l.Network.CIDR = lab.Prefix{Prefix: netip.MustParsePrefix(cidr)}
	if vpn != "" {
		l.Network.VPNCIDR = lab.Prefix{Prefix: netip.MustParsePrefix(vpn)}
	}
	return l
}

func TestDaemonPoolsAvoidTheLab(t *testing.T) {
	for _, c := range []struct{ cidr, vpn, want string }{
		{"192.168.100.0/24", "100.64.0.0/10", "172.16.0.0/12"},
		{"172.20.0.0/16", "", "10.200.0.0/14"},
		{"10.0.0.0/8", "172.16.0.0/12", "192.168.224.0/19"},
	} {
		d, err := DaemonFor(labOn(c.cidr, c.vpn))
		if err != nil || len(d.Pools) != 1 || d.Pools[0].Base != c.want || d.Pools[0].Size != 24 {
			t.Errorf("lab %s/%s: pools %+v %v, want %s", c.cidr, c.vpn, d, err, c.want)
		}
	}
	if _, err := DaemonFor(labOn("0.0.0.0/0", "")); err == nil || !strings.Contains(err.Error(), "set docker.address_pools") {
		t.Errorf("no pool fits: %v", err)
	}
	l := labOn("192.168.100.0/24", "")
	l.Docker = &lab.Docker{AddressPools: []*lab.AddressPool{{Base: lab.Prefix{Prefix: netip.MustParsePrefix("10.210.0.0/16")}, Size: 26}}}
	d, _ := DaemonFor(l)
	if !strings.Contains(string(d.Content()), `"base": "10.210.0.0/16",`) || !strings.Contains(string(d.Content()), `"size": 26`) {
		t.Errorf("configured pools not used:\n%s", d.Content())
	}
}

func TestDaemonReloadOrRestart(t *testing.T) {
	d := &Daemon{Pools: []Pool{{"172.16.0.0/12", 24}}}
	want := d.Content()
	for _, c := range []struct {
		old     string
		restart bool
	}{
		{"", true},
		{string(want), false},
		{strings.Replace(string(want), `"live-restore": true`, `"live-restore": false`, 1), false},
		{strings.Replace(string(want), `"10m"`, `"50m"`, 1), true},
		{strings.Replace(string(want), `"size": 24`, `"size": 20`, 1), true},
		{strings.Replace(string(want), "{", `{"debug": true,`, 1), false},
	} {
		if got := needsRestart([]byte(c.old), want); got != c.restart {
			t.Errorf("from %q: restart %v, want %v", c.old, got, c.restart)
		}
	}
}

// engineHost records the commands the resource runs on a host whose
// Engine is (or is not) running.
type engineHost struct {
	active  bool
	invalid string
	calls   []string
	root    string
	seen    []string // daemon.json's content at each reload or restart
}

func (h *engineHost) run(_ context.Context, argv ...string) ([]byte, error) {
	h.calls = append(h.calls, strings.Join(argv, " "))
	switch {
	case argv[0] == "dockerd":
		if h.invalid != "" {
			return []byte(h.invalid), errors.New("exit status 1")
		}
		if _, err := os.Stat(argv[len(argv)-1]); err != nil {
			return nil, err
		}
	case argv[0] == "systemctl" && argv[1] == "is-active":
		if !h.active {
			return nil, errors.New("exit status 3")
		}
	case argv[0] == "systemctl":
		b, _ := os.ReadFile(filepath.Join(h.root, DaemonFile))
		h.seen = append(h.seen, string(b))
	}
	return nil, nil
}

func (h *engineHost) verbs() []string {
	var out []string
	for _, c := range h.calls {
		if strings.HasPrefix(c, "systemctl reload") || strings.HasPrefix(c, "systemctl restart") {
			out = append(out, strings.Fields(c)[1])
		}
	}
	return out
}

func TestDaemonApply(t *testing.T) {
	ctx := context.Background()
	d := &Daemon{Pools: []Pool{{"172.16.0.0/12", 24}}}
	path := func(root string) string { return filepath.Join(root, DaemonFile) }

	t.Run("new host, no Engine yet", func(t *testing.T) {
		h := &engineHost{root: t.TempDir()}
		d.Run = h.run
		env := &resource.Env{Root: h.root}
		ch, err := d.CheckApply(ctx, env, true)
		if err != nil || ch == nil || ch.ID != "docker:daemon.json" || ch.Subsystem != "packages" {
			t.Fatalf("%+v %v", ch, err)
		}
		if b, _ := os.ReadFile(path(h.root)); string(b) != string(d.Content()) {
			t.Errorf("daemon.json = %s", b)
		}
		if len(h.verbs()) != 0 {
			t.Errorf("an Engine that is not running was told %v", h.verbs())
		}
		h.calls = nil
		if ch, err := d.CheckApply(ctx, env, true); err != nil || ch != nil || len(h.calls) != 0 {
			t.Errorf("second pass: %+v %v %q", ch, err, h.calls)
		}
	})

	t.Run("running Engine without live-restore", func(t *testing.T) {
		h := &engineHost{root: t.TempDir(), active: true}
		d.Run = h.run
		os.MkdirAll(filepath.Dir(path(h.root)), 0o755)
		os.WriteFile(path(h.root), []byte(`{"log-driver": "json-file"}`), 0o644)
		ch, err := d.CheckApply(ctx, &resource.Env{Root: h.root}, true)
		if err != nil || !strings.Contains(ch.Summary, "restarts a running Engine") {
			t.Fatalf("%+v %v", ch, err)
		}
		// live-restore first (reload), then the rest (restart): the
		// containers survive the restart.
		if v := h.verbs(); strings.Join(v, ",") != "reload,restart" {
			t.Fatalf("verbs %v", v)
		}
		if !liveRestore([]byte(h.seen[0])) || strings.Contains(h.seen[0], "default-address-pools") || h.seen[1] != string(d.Content()) {
			t.Errorf("reloaded with %s, restarted with %s", h.seen[0], h.seen[1])
		}
	})

	t.Run("only reloadable keys changed", func(t *testing.T) {
		h := &engineHost{root: t.TempDir(), active: true}
		d.Run = h.run
		os.MkdirAll(filepath.Dir(path(h.root)), 0o755)
		os.WriteFile(path(h.root), []byte(strings.Replace(string(d.Content()), `"live-restore": true`, `"live-restore": false`, 1)), 0o644)
		if _, err := d.CheckApply(ctx, &resource.Env{Root: h.root}, true); err != nil {
			t.Fatal(err)
		}
		if v := h.verbs(); strings.Join(v, ",") != "reload" {
			t.Fatalf("verbs %v", v)
		}
	})

	t.Run("the Engine refuses the file", func(t *testing.T) {
		h := &engineHost{root: t.TempDir(), active: true, invalid: "unable to configure the Docker daemon with file x: invalid pool"}
		d.Run = h.run
		os.MkdirAll(filepath.Dir(path(h.root)), 0o755)
		old := `{"live-restore": true}` + "\n"
		os.WriteFile(path(h.root), []byte(old), 0o644)
		_, err := d.CheckApply(ctx, &resource.Env{Root: h.root}, true)
		if err == nil || !strings.Contains(err.Error(), "refuses the new /etc/docker/daemon.json (kept the old one): unable to configure") {
			t.Fatalf("err %v", err)
		}
		if b, _ := os.ReadFile(path(h.root)); string(b) != old || len(h.verbs()) != 0 {
			t.Errorf("daemon.json %s, verbs %v", b, h.verbs())
		}
	})

	t.Run("folder root", func(t *testing.T) {
		root := t.TempDir()
		ch, err := (&Daemon{Pools: d.Pools}).CheckApply(ctx, &resource.Env{Root: root}, true)
		if err != nil || ch == nil {
			t.Fatalf("%+v %v", ch, err)
		}
		if _, err := os.Stat(path(root)); err != nil {
			t.Error(err)
		}
	})
}
