//go:build e2e

package e2e

import (
	"bytes"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// fromZero destroys the whole lab but the git and S3 servers (the lab repo
// and the bucket with the previous lab's backups), then runs
// `homelab-agent bootstrap` against the Proxmox simulator, whose VM start
// boots a guest container with the vendor data bootstrap wrote. Done when
// every guest converged, cloud's data is back byte-identical and the app
// containers run; timed from the bootstrap command's start.
func (l *Lab) fromZero(t *testing.T) (string, string) {
	if l.drData == "" {
		l.fail("from zero needs the disaster-recovery scenario's backup")
	}
	for _, g := range l.Guests {
		l.must("rm", "-f", "-v", g.Container)
		if g.Docker {
			l.must("volume", "rm", g.Volume)
		}
		l.wipeDisk(g) // a new VM's data disk is blank
	}

	// E2E_FROMZERO_CACHE=empty times from zero with an empty package
	// cache (its files removed, the cache restarted); by default the
	// cache is warm from the scenarios before.
	cache := "warm"
	if os.Getenv("E2E_FROMZERO_CACHE") == "empty" {
		cache = "empty"
		l.must("exec", l.ID+"-cache", "find", "/var/cache/apt-cacher-ng", "-mindepth", "1", "-delete")
		l.must("restart", "-t", "5", l.ID+"-cache")
		l.waitCache()
	}
	size := strings.TrimSpace(l.must("exec", l.ID+"-cache", "du", "-sh", "/var/cache/apt-cacher-ng"))
	apidoc, err := pvesim.FindSchema(repoRoot())
	if err != nil {
		// The repo may be cloned away from the shared folder (CI).
		p, ok := testreq.FindShared("proxmox/apidoc.js")
		if !ok {
			l.fail("the Proxmox API schema: %v", err)
		}
		apidoc = p
	}
	schema, err := pvesim.LoadSchema(apidoc)
	if err != nil {
		l.fail("%v", err)
	}
	root := filepath.Join(l.Dir, "pve")
	token := "root@pam!homelab=e2e"
	byName := map[string]*Guest{}
	for _, g := range l.Guests {
		byName[g.Name] = g
	}
	var (
		mu      sync.Mutex
		started = map[string]bool{}
		errs    []string
		wg      sync.WaitGroup
	)
	opts := pvesim.Options{Schema: schema, Nodes: []string{"pve"}, Token: token, Root: root, BridgesFromFiles: true}
	const taskScale = 0.01
	opts.Realistic(taskScale)
	opts.OnStart = func(st pvesim.Started) {
		wg.Add(1)
		defer wg.Done()
		g := byName[st.Name]
		mu.Lock()
		dup := started[st.Name]
		started[st.Name] = true
		mu.Unlock()
		if g == nil || dup || len(st.VendorData) == 0 {
			mu.Lock()
			errs = append(errs, fmt.Sprintf("VM %d %q started: guest known %v, started before %v, vendor data %d bytes", st.VMID, st.Name, g != nil, dup, len(st.VendorData)))
			mu.Unlock()
			return
		}
		if want := l.vendorData(g); !bytes.Equal(st.VendorData, want) {
			mu.Lock()
			errs = append(errs, fmt.Sprintf("VM %s: the snippet bootstrap wrote differs from the cold start's vendor data", st.Name))
			mu.Unlock()
		}
		// The VM boots: its disk is the plain image, its data disk blank,
		// the snippet bootstrap wrote is its vendor data.
		l.startGuest(g, st.VendorData)
	}
	sim := pvesim.New(opts)
	url := sim.StartTLS()
	defer sim.Close()
	pve := filepath.Join(root, "etc/pve")
	os.MkdirAll(filepath.Join(pve, "nodes", "pve"), 0o755)
	os.Symlink("nodes/pve", filepath.Join(pve, "local"))
	os.WriteFile(filepath.Join(pve, "pve-root-ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: sim.Certificate().Raw}), 0o644)

	start := time.Now()
	cmd := exec.Command(filepath.Join(l.Dir, "srv/files/homelab-agent"), "bootstrap", "--repo", l.Work, "--root", root, "--api", url,
		"--agent-url", "http://"+gitIP+"/files/homelab-agent", "--agent-sha256", l.AgentSHA,
		"--lab-url", "http://"+gitIP+"/lab.git", "--master-key", l.MasterKey, "--image-checksum", "sha256:"+strings.Repeat("0", 64))
	cmd.Env = append(os.Environ(), "PVE_API_TOKEN="+token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		l.fail("bootstrap: %v\n%s", err, out)
	}
	bootstrapTook := time.Since(start)
	// The guests boot in the background (OnStart); wait for them.
	deadline := time.Now().Add(5 * time.Minute)
	for {
		mu.Lock()
		n := len(started)
		mu.Unlock()
		if n == len(l.Guests) {
			break
		}
		if time.Now().After(deadline) {
			l.fail("only %d of %d VMs started", n, len(l.Guests))
		}
		time.Sleep(200 * time.Millisecond)
	}
	wg.Wait()
	if len(errs) > 0 || t.Failed() {
		l.fail("VM starts: %s", strings.Join(errs, "; "))
	}
	st := sim.Stats()
	if st.Rejected != 0 {
		l.fail("the simulator rejected %d of bootstrap's requests: %v", st.Rejected, st.Rejections)
	}
	l.waitAll(l.Guests, start, 20*time.Minute, "from zero: every guest converged on "+l.Good[:8], func(g *Guest, s *Status) bool {
		return converged(s, l.Good)
	})
	cloud := l.guest("cloud")
	how := l.restored(cloud, "/srv/data/nextcloud", l.drData)
	apps := l.checkApps()
	names := l.checkDNS()
	total := time.Since(start)
	return ms(total) + " (" + cache + " package cache)", fmt.Sprintf("package cache %s at the start (%s); empty simulated node (Proxmox API schema-checked, 0 rejections, %d requests; task durations scaled to %g of the simulator's real-node estimates) → `homelab-agent bootstrap` (%s) → 6 VMs started, each a guest container running the vendor snippet bootstrap wrote → all 6 converged, cloud's data back from the bucket byte-identical (%d files; %s), DNS answers %d names, app containers %s",
		cache, size, st.Requests, taskScale, ms(bootstrapTook), strings.Count(l.drData, "\n")/2, how, names, apps)
}
