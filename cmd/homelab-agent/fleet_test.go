package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/fleet"
)

// TestStatusFleet: `status --fleet` asks every host over the signed fleet
// protocol and prints one line each; an unreachable, unhealthy or
// refusing host makes it exit 1 with the problem named.
func TestStatusFleet(t *testing.T) {
	const key = "fleet-key-for-the-test"
	yes, no := true, false
	hosts := map[string]*fleet.Status{}
	for _, h := range []string{"dns1", "proxy", "vpn", "cloud", "photos", "media"} {
		hosts[h] = &fleet.Status{Host: h, Applied: "aaaaaaaaaaaa1111", LastGood: "aaaaaaaaaaaa1111", Healthy: &yes, LastBackup: time.Now().Add(-2 * time.Hour)}
	}
	var peers []string
	for name, s := range hosts {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != fleet.Path || fleet.Verify([]byte(key), r, time.Now()) != nil {
				http.Error(w, "no", http.StatusUnauthorized)
				return
			}
			json.NewEncoder(w).Encode(s)
		}))
		t.Cleanup(srv.Close)
		peers = append(peers, "--peer", name+"="+strings.TrimPrefix(srv.URL, "http://"))
	}
	t.Setenv("HOMELAB_SECRET_FLEET_KEY", key)
	fleetRun := func() (string, error) {
		var out bytes.Buffer
		r := newRoot(&out, &out)
		r.SetArgs(append([]string{"status", "--fleet", "--root", t.TempDir(), "--repo", "../../fixtures/lab"}, peers...))
		err := r.Execute()
		return out.String(), err
	}
	out, err := fleetRun()
	if err != nil {
		t.Fatalf("all well: %v\n%s", err, out)
	}
	if strings.Count(out, "aaaaaaaaaaaa") != 12 || !strings.Contains(out, "media   jellyfin") || strings.Contains(out, "problems") {
		t.Errorf("table:\n%s", out)
	}

	hosts["media"].Healthy, hosts["media"].HealthFailure = &no, "jellyfin /health: status 503"
	hosts["cloud"].BadCommit, hosts["cloud"].BadReason = "bbbbbbbbbbbb2222", "rolled back bbbbbbbbbbbb: nextcloud /status.php: status 500 after 2m0s"
	peers = append(peers, "--peer", "vpn=127.0.0.1:1") // nothing listens there
	out, err = fleetRun()
	if err != silentError {
		t.Fatalf("problems but exit %v\n%s", err, out)
	}
	t.Logf("status --fleet:\n%s", out)
	for _, want := range []string{"media: unhealthy: jellyfin /health: status 503", "cloud: refused bbbbbbbbbbbb: rolled back", "vpn: unreachable:", "FAILING"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// A wrong key is refused by every host.
	t.Setenv("HOMELAB_SECRET_FLEET_KEY", "wrong")
	if out, err = fleetRun(); err != silentError || strings.Count(out, "401 Unauthorized") < 5 {
		t.Errorf("wrong key: %v\n%s", err, out)
	}
}
