package bootstrap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/homelab-agent/homelab-agent/roles/all"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/bootstrap"
	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
)

func offlinePlan(t *testing.T, l *lab.Lab) *bootstrap.Plan {
	t.Helper()
	p, err := bootstrap.PlanLab(context.Background(), l, bootstrap.Options{Override: override()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDryRunJSONPassesSchema checks every request of an offline plan
// against Proxmox's schema, and the JSON form of the plan.
func TestDryRunJSONPassesSchema(t *testing.T) {
	schema := pvesim.TestingSchema(t)
	l, err := lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	o := override()
	o.Nameserver = "192.168.100.2"
	p, err := bootstrap.PlanLab(context.Background(), l, bootstrap.Options{Override: o})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := p.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var calls []struct {
		Method string            `json:"method"`
		Path   string            `json:"path"`
		Params map[string]string `json:"params"`
	}
	if err := json.Unmarshal(buf.Bytes(), &calls); err != nil {
		t.Fatalf("dry-run JSON: %v\n%s", err, buf.String())
	}
	// storage, download, then create+resize+start for 6 VMs
	if len(calls) != 2+6*3 {
		t.Fatalf("%d calls:\n%s", len(calls), buf.String())
	}
	for _, c := range calls {
		m, vars, err := schema.Lookup(c.Method, c.Path)
		if err != nil {
			t.Errorf("%s %s: %v", c.Method, c.Path, err)
			continue
		}
		form := map[string][]string{}
		for k, v := range c.Params {
			form[k] = []string{v}
		}
		if errs := m.Validate(vars, form); errs != nil {
			t.Errorf("%s %s: schema errors %v", c.Method, c.Path, errs)
		}
	}
	if calls[2].Method != "POST" || calls[2].Path != "/nodes/pve/qemu" {
		t.Errorf("third call is %s %s, want POST /nodes/pve/qemu", calls[2].Method, calls[2].Path)
	}
	if c := calls[2].Params; c["nameserver"] != "192.168.100.2" || c["searchdomain"] != "home.example" {
		t.Errorf("DNS settings: %v", c)
	}
}

// TestDryRunListsTheRequestsSent compares a plan's requests with what the
// simulator received when the same plan was applied.
func TestDryRunListsTheRequestsSent(t *testing.T) {
	e := newEnv(t, fastTasks())
	p := e.plan("", false)
	want := key(p.Calls())
	if res := e.apply(p); res.Err() != nil {
		t.Fatal(res.Err())
	}
	var got []string
	for _, r := range e.sim.Stats().Changes {
		if strings.HasSuffix(r.Path, "/agent/ping") {
			continue // waiting for the guest agent: a poll, not a change
		}
		got = append(got, key1(r.Method, r.Path, r.Params))
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Fatalf("sent requests differ from the plan's\nplan: %v\nsent: %v", want, got)
	}
}

func key(cs []bootstrap.Call) []string {
	var out []string
	for _, c := range cs {
		out = append(out, key1(c.Method, c.Path, c.Params))
	}
	sort.Strings(out)
	return out
}

func key1(m, p string, params map[string]string) string {
	b, _ := json.Marshal(params)
	return m + " " + p + " " + string(b)
}

// TestParallelCreation measures the VM phase with realistic task durations
// and the client's default 1s poll interval, both scaled to 1%:
// independent VMs must be built at the same time.
func TestParallelCreation(t *testing.T) {
	so := pvesim.Options{}
	so.Realistic(0.01)
	e := newEnv(t, so)
	e.setPoll(10 * time.Millisecond)
	res := e.apply(e.plan("", false))
	if res.Err() != nil {
		t.Fatal(res.Err())
	}
	var serial time.Duration
	for _, d := range res.VMSteps {
		serial += d
	}
	t.Logf("6 VMs: VM phase %s wall, %s summed over VMs (serial); whole run %s, %d requests",
		res.VMPhase.Round(time.Millisecond), serial.Round(time.Millisecond), res.Elapsed.Round(time.Millisecond), res.Calls)
	for route, n := range e.sim.Stats().ByRoute {
		t.Logf("  %4d %s", n, route)
	}
	if len(res.VMSteps) != 6 || res.VMPhase > serial/3 {
		t.Fatalf("VMs were not built in parallel: wall %s vs serial %s", res.VMPhase, serial)
	}
	e.noRejections()
}

// BenchmarkBootstrapSampleLab builds the sample lab against a fresh
// simulator with realistic task durations and the client's 1s poll
// interval, both scaled to 1% (so requests/op is what a real run sends).
func BenchmarkBootstrapSampleLab(b *testing.B) { benchLab(b, 8) }

// BenchmarkBootstrapSampleLabSerial is the same with one VM at a time.
func BenchmarkBootstrapSampleLabSerial(b *testing.B) { benchLab(b, 1) }

func benchLab(b *testing.B, parallel int) {
	schema := pvesim.TestingSchema(b)
	l, err := lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		b.Fatal(err)
	}
	var calls, tasks int
	for b.Loop() {
		so := pvesim.Options{Schema: schema, Token: token, Root: b.TempDir(), Bridges: []string{"vmbr1"}}
		so.Realistic(0.01)
		sim := pvesim.New(so)
		u := sim.StartTLS()
		c, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: u, Token: token, Fingerprint: sim.Fingerprint(), PollInterval: 10 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		o := bootstrap.Options{Override: override(), Client: c, PlanOptions: bootstrap.PlanOptions{Local: &bootstrap.Local{Root: so.Root, Node: "pve"}}}
		p, err := bootstrap.PlanLab(context.Background(), l, o)
		if err != nil {
			b.Fatal(err)
		}
		res := bootstrap.Apply(context.Background(), c, p, bootstrap.ApplyOptions{Root: so.Root, Parallel: parallel})
		if res.Err() != nil {
			b.Fatal(res.Err())
		}
		st := sim.Stats()
		if st.Rejected != 0 {
			b.Fatalf("rejected: %+v", st.Rejections)
		}
		calls, tasks = st.Requests, sumTasks(st.Tasks)
		sim.Close()
	}
	b.ReportMetric(float64(calls), "requests/op")
	b.ReportMetric(float64(tasks), "tasks/op")
}

func TestMultiNodePlacement(t *testing.T) {
	data, err := os.ReadFile("../fixtures/lab/homelab.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "apps/whoami"), 0o755)
	compose, _ := os.ReadFile("../fixtures/lab/apps/whoami/compose.yaml")
	os.WriteFile(filepath.Join(dir, "apps/whoami/compose.yaml"), compose, 0o644)
	y := strings.Replace(string(data), "vmid: 111,", "vmid: 111, node: pve2,", 1)
	y = strings.Replace(y, "vmid: 112,", "vmid: 112, node: pve2,", 1)
	if err := os.WriteFile(filepath.Join(dir, "homelab.yaml"), []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := lab.Load(dir, role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Offline, every VM is planned on its node and the image goes to both.
	var paths []string
	for _, c := range offlinePlan(t, l).Calls() {
		if c.Method == "POST" && (strings.HasSuffix(c.Path, "/qemu") || strings.HasSuffix(c.Path, "/download-url")) {
			paths = append(paths, c.Path+" "+c.Params["name"])
		}
	}
	want := []string{"/nodes/pve/storage/local/download-url ", "/nodes/pve2/storage/local/download-url ",
		"/nodes/pve/qemu dns1", "/nodes/pve/qemu proxy", "/nodes/pve/qemu vpn", "/nodes/pve/qemu cloud",
		"/nodes/pve2/qemu photos", "/nodes/pve2/qemu media"}
	if !slices.Equal(paths, want) {
		t.Fatalf("placement:\n got %q\nwant %q", paths, want)
	}

	// Against a two-node cluster: run on pve, then on pve2.
	so := fastTasks()
	so.Nodes = []string{"pve", "pve2"}
	e := newEnv(t, so)
	e.lab = l
	p := e.plan("", false)
	out := text(p)
	if len(p.Problems) != 2 || !strings.Contains(out, "photos: its vendor snippet local:snippets/homelab-photos.yaml is not on node pve2") ||
		!strings.Contains(out, "on node pve2: run bootstrap there too") {
		t.Fatalf("plan on pve:\n%s", out)
	}
	res := e.apply(p)
	if res.Err() == nil || len(res.VMSteps) != 4 {
		t.Fatalf("on pve: want 4 VMs built and the 2 of pve2 refused, got %v, %v", res.VMSteps, res.Err())
	}
	e.sim.AddBridge("pve2", "vmbr1")
	o := e.options("", false)
	o.Local.Node = "pve2"
	p2, err := bootstrap.PlanLab(context.Background(), l, o)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.apply(p2); res.Err() != nil {
		t.Fatalf("on pve2: %v\n%s", res.Err(), text(p2))
	}
	for id, node := range map[int]string{102: "pve", 110: "pve", 111: "pve2", 112: "pve2"} {
		if vm := e.sim.VM(id); vm == nil || vm.Node != node || !vm.Running {
			t.Errorf("VM %d: %+v, want running on %s", id, vm, node)
		}
	}
	e.noRejections()
}

func TestRefusesForeignVM(t *testing.T) {
	e := newEnv(t, fastTasks())
	// Someone else's VM already holds dns1's VMID.
	if err := e.client.Task(context.Background(), "POST", "/nodes/pve/qemu", map[string][]string{"vmid": {"102"}, "name": {"windows"}}); err != nil {
		t.Fatal(err)
	}
	p := e.plan("", false)
	if len(p.Problems) != 1 || !strings.Contains(p.Problems[0], "dns1: VM 102 exists (name \"windows\"") {
		t.Fatalf("plan:\n%s", text(p))
	}
	res := e.apply(p)
	if res.Err() == nil || len(res.VMSteps) != 5 {
		t.Fatalf("want an error and 5 VMs built: %v", res.Err())
	}
	if vm := e.sim.VM(102); vm.Config["name"] != "windows" || vm.Running {
		t.Errorf("the foreign VM was touched: %+v", vm)
	}
	e.noRejections()
}

func TestNotOnTheNode(t *testing.T) {
	e := newEnv(t, fastTasks())
	o := e.options("", false)
	o.Local = nil
	p, err := bootstrap.PlanLab(context.Background(), e.lab, o)
	if err != nil {
		t.Fatal(err)
	}
	out := text(p)
	if len(p.VMs) != 0 || len(p.Problems) != 6 || !strings.Contains(out, "manual:  on every node: write /etc/network/interfaces.d/homelab") {
		t.Fatalf("plan from elsewhere:\n%s", out)
	}
}

func TestImageChecksumFromSHA512SUMS(t *testing.T) {
	sha := strings.Repeat("ab", 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/trixie/SHA512SUMS" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintf(w, "%s  debian-13-genericcloud-arm64.qcow2\n%s  debian-13-genericcloud-amd64.qcow2\n", strings.Repeat("cd", 64), sha)
	}))
	defer srv.Close()
	e := newEnv(t, fastTasks())
	o := e.options("", false)
	o.Override.ImageURL = srv.URL + "/trixie/debian-13-genericcloud-amd64.qcow2"
	o.Override.ImageChecksum = ""
	p, err := bootstrap.PlanLab(context.Background(), e.lab, o)
	if err != nil {
		t.Fatal(err)
	}
	if res := e.apply(p); res.Err() != nil {
		t.Fatal(res.Err())
	}
	for _, r := range e.sim.Stats().Changes {
		if strings.HasSuffix(r.Path, "/download-url") {
			if r.Params["checksum"] != sha || r.Params["checksum-algorithm"] != "sha512" {
				t.Errorf("download-url params %v", r.Params)
			}
			return
		}
	}
	t.Fatal("no download-url request")
}

func TestDataDiskGrowsWithYes(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.bootstrap()
	e.sim.SetConfig(104, "scsi1", "local-lvm:vm-104-disk-1,iothread=1,discard=on,size=512M")
	p := e.plan("", false)
	if len(p.Drift) != 1 || !p.Drift[0].Live || p.Drift[0].Key != "scsi1" {
		t.Fatalf("plan:\n%s", text(p))
	}
	if res := e.apply(e.plan("", true)); res.Err() != nil {
		t.Fatal(res.Err())
	}
	if c := e.sim.VM(104).Config["scsi1"]; !strings.HasSuffix(c, "size=1G") {
		t.Errorf("scsi1 = %q after --yes", c)
	}
	e.noRejections()
}

func TestNetworkFileRespectsTheNode(t *testing.T) {
	e := newEnv(t, fastTasks())
	os.MkdirAll(filepath.Join(e.root, "etc/network"), 0o755)
	main := filepath.Join(e.root, "etc/network/interfaces")
	os.WriteFile(main, []byte("auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet static\n\taddress 10.0.0.2/24\n"), 0o644)
	p := e.plan("", false)
	if !strings.Contains(text(p), "add `source /etc/network/interfaces.d/*`") || p.Setup[0].Kind != "network" {
		t.Errorf("no hint about sourcing interfaces.d:\n%s", text(p))
	}
	os.WriteFile(main, []byte("auto vmbr1\niface vmbr1 inet static\n\taddress 192.168.100.1/24\nsource /etc/network/interfaces.d/*\n"), 0o644)
	p = e.plan("", false)
	if p.Setup[0].Kind == "network" || !strings.Contains(text(p), "vmbr1 is already defined in /etc/network/interfaces") {
		t.Errorf("an existing vmbr1 was not left alone:\n%s", text(p))
	}
}

func TestDetachedDataDiskIsReattached(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.bootstrap()
	data := strings.Split(e.sim.VM(110).Config["scsi1"], ",")[0]
	if err := e.client.Do(context.Background(), "PUT", "/nodes/pve/qemu/110/config", map[string][]string{"delete": {"scsi1"}}, nil); err != nil {
		t.Fatal(err)
	}
	if c := e.sim.VM(110).Config; c["unused0"] != data || c["scsi1"] != "" {
		t.Fatalf("detaching did not leave unused0: %v", c)
	}
	p := e.plan("", false)
	if len(p.Drift) != 1 || p.Drift[0].Want != "re-attach "+data || !p.Drift[0].Live {
		t.Fatalf("plan:\n%s", text(p))
	}
	if res := e.apply(e.plan("", true)); res.Err() != nil {
		t.Fatal(res.Err())
	}
	c := e.sim.VM(110).Config
	if !strings.HasPrefix(c["scsi1"], data+",") || c["unused0"] != "" {
		t.Fatalf("after --yes: scsi1=%q unused0=%q", c["scsi1"], c["unused0"])
	}
	if p := e.plan("", false); !p.Empty() || len(p.Drift) != 0 {
		t.Errorf("not in order:\n%s", text(p))
	}
	e.noRejections()
}

// A repo URL with a token in it is refused: it would be written into
// every VM's vendor data and agent.yaml.
func TestRefusesCredentialsInRepoURL(t *testing.T) {
	l, err := lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"https://ghp_SeCrEt@git.example/lab.git", "https://agent:pw-SeCrEt@git.example/lab.git"} {
		o := override()
		o.Repo = u
		_, err := bootstrap.PlanLab(context.Background(), l, bootstrap.Options{Override: o})
		if err == nil || !strings.Contains(err.Error(), "auth.token") || strings.Contains(err.Error(), "SeCrEt") {
			t.Fatalf("%s: err %v, want a refusal naming auth.token without the token", u, err)
		}
	}
}
