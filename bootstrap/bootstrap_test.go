package bootstrap_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/homelab-agent/homelab-agent/roles/all"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
	"github.com/homelab-agent/homelab-agent/bootstrap"
	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
)

const (
	token    = "root@pam!homelab=11111111-2222-3333-4444-555555555555"
	sshKey   = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBx+/9Kq0= admin@laptop"
	imgURL   = "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.qcow2"
	agentURL = "https://releases.example/homelab-agent/v1/homelab-agent-linux-amd64"
)

func sum(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// override pins what the sample lab leaves to the operator.
func override() bootstrap.Settings {
	return bootstrap.Settings{
		ImageChecksum: "sha256:" + sum("image"), AgentURL: agentURL, AgentChecksum: "sha256:" + sum("agent"),
		Repo: "https://git.example/lab.git", SSHKeys: []string{sshKey},
	}
}

// env is a simulated Proxmox node with the bootstrap pointed at it; the
// node's file system is a temp folder.
type env struct {
	t       *testing.T
	sim     *pvesim.Sim
	client  *bootstrap.Client
	lab     *lab.Lab
	root    string
	url     string
	reloads int
}

// setPoll makes a client that polls tasks and retries every d.
func (e *env) setPoll(d time.Duration) {
	c, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: e.url, Token: token, Fingerprint: e.sim.Fingerprint(),
		Backoff: d, PollInterval: d})
	if err != nil {
		e.t.Fatal(err)
	}
	e.client = c
}

func fastTasks() pvesim.Options {
	return pvesim.Options{DefaultTask: 2 * time.Millisecond, AgentDelay: 5 * time.Millisecond}
}

func newEnv(t *testing.T, so pvesim.Options) *env {
	t.Helper()
	so.Schema = pvesim.TestingSchema(t)
	so.Token = token
	e := &env{t: t, root: t.TempDir()}
	so.Root = e.root
	so.KnownImages = map[string]string{imgURL: sum("image")}
	e.sim = pvesim.New(so)
	e.url = e.sim.StartTLS()
	t.Cleanup(e.sim.Close)
	e.setPoll(2 * time.Millisecond)
	var err error
	e.lab, err = lab.Load("../fixtures/lab", role.LabOptions())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) options(replace string, yes bool) bootstrap.Options {
	return bootstrap.Options{Override: override(), Client: e.client,
		PlanOptions: bootstrap.PlanOptions{Local: &bootstrap.Local{Root: e.root, Node: "pve"}, Replace: replace, Yes: yes}}
}

func (e *env) plan(replace string, yes bool) *bootstrap.Plan {
	e.t.Helper()
	p, err := bootstrap.PlanLab(context.Background(), e.lab, e.options(replace, yes))
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) apply(p *bootstrap.Plan) *bootstrap.Result {
	return bootstrap.Apply(context.Background(), e.client, p, bootstrap.ApplyOptions{
		Root: e.root, AgentTimeout: 10 * time.Second,
		Reload: func(context.Context) error { e.reloads++; e.sim.AddBridge("pve", "vmbr1"); return nil },
	})
}

// noRejections asserts that every request the bootstrap sent passed
// Proxmox's schema.
func (e *env) noRejections() {
	e.t.Helper()
	st := e.sim.Stats()
	if st.Rejected != 0 {
		e.t.Fatalf("the simulator rejected %d of %d requests: %+v", st.Rejected, st.Requests, st.Rejections)
	}
	if st.Requests == 0 {
		e.t.Fatal("no requests reached the simulator")
	}
}

func (e *env) bootstrap() {
	e.t.Helper()
	res := e.apply(e.plan("", false))
	if err := res.Err(); err != nil {
		e.t.Fatalf("bootstrap failed: %v", err)
	}
}

func text(p *bootstrap.Plan) string {
	var b strings.Builder
	p.WriteText(&b)
	return b.String()
}

func TestFreshBootstrapThenNoChanges(t *testing.T) {
	e := newEnv(t, fastTasks())
	p := e.plan("", false)
	if got := len(p.VMs); got != 6 {
		t.Fatalf("plan creates %d VMs, want 6:\n%s", got, text(p))
	}
	res := e.apply(p)
	if err := res.Err(); err != nil {
		t.Fatalf("bootstrap failed: %v", err)
	}
	e.noRejections()
	if e.reloads != 1 {
		t.Errorf("network reloaded %d times, want 1", e.reloads)
	}
	net, err := os.ReadFile(filepath.Join(e.root, bootstrap.InterfacesFile))
	if err != nil || !strings.Contains(string(net), "-s '192.168.100.0/24' -o vmbr0 -j MASQUERADE") ||
		!strings.Contains(string(net), "address 192.168.100.1/24") {
		t.Errorf("interfaces file: %v\n%s", err, net)
	}
	// The node's own rules for the bridge, loaded when it comes up.
	rules, err := os.ReadFile(filepath.Join(e.root, bootstrap.NodeRulesFile))
	if err != nil || !strings.Contains(string(net), "post-up   nft -f "+bootstrap.NodeRulesFile) ||
		!strings.Contains(string(rules), `iifname != "vmbr1" accept`) || !strings.Contains(string(rules), "drop") {
		t.Errorf("node rules: %v\n%s\n%s", err, net, rules)
	}
	if st := e.sim.Storage("local"); !strings.Contains(strings.Join(st.Content, ","), "import") || !strings.Contains(strings.Join(st.Content, ","), "snippets") {
		t.Errorf("storage local content = %v", st.Content)
	}
	for _, h := range e.lab.Hosts {
		vm := e.sim.VM(h.VM.VMID)
		if vm == nil || !vm.Running {
			t.Fatalf("%s: VM %d missing or not running: %+v", h.Name, h.VM.VMID, vm)
		}
		c := vm.Config
		want := map[string]string{
			"name": h.Name, "scsihw": "virtio-scsi-single", "agent": "enabled=1", "onboot": "1",
			"ipconfig0": "ip=" + h.IP.String() + "/24,gw=192.168.100.1", "ciuser": "homelab",
			"cicustom": "vendor=local:snippets/homelab-" + h.Name + ".yaml", "net0": "virtio,bridge=vmbr1",
			"sshkeys": "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIBx%2B%2F9Kq0%3D%20admin%40laptop",
		}
		for k, v := range want {
			if c[k] != v {
				t.Errorf("%s: %s = %q, want %q", h.Name, k, c[k], v)
			}
		}
		if !strings.Contains(c["scsi0"], "size="+h.VM.Disk) || !strings.Contains(c["scsi1"], "size="+h.VM.DataDisk) {
			t.Errorf("%s: disks scsi0=%q scsi1=%q", h.Name, c["scsi0"], c["scsi1"])
		}
		snip, err := os.ReadFile(filepath.Join(e.root, "var/lib/vz/snippets/homelab-"+h.Name+".yaml"))
		if err != nil || !strings.HasPrefix(string(snip), "#cloud-config\n") {
			t.Errorf("%s: snippet: %v", h.Name, err)
		}
	}
	first := e.sim.Stats()
	t.Logf("fresh bootstrap: %d requests, %d tasks, %s; named formats not checked: %v", first.Requests, sumTasks(first.Tasks), res.Elapsed, pvesim.UncheckedFormats())

	e.sim.ResetStats()
	again := e.plan("", false)
	if !again.Empty() || len(again.Drift) != 0 || !strings.Contains(text(again), "no changes: 6 VMs") {
		t.Fatalf("second run is not a no-op:\n%s", text(again))
	}
	res = e.apply(again)
	if err := res.Err(); err != nil || len(res.Done) != 0 {
		t.Fatalf("second apply: %v, did %v", err, res.Done)
	}
	e.noRejections()
	if e.reloads != 1 {
		t.Errorf("second run reloaded the network")
	}
	if st := e.sim.Stats(); len(st.Changes) != 0 || st.Requests != 9 {
		t.Errorf("second run: %d requests (want 9 reads), changes %v", st.Requests, st.Changes)
	}
}

func sumTasks(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func TestDriftReportedAndFixedWithYes(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.bootstrap()
	e.sim.SetConfig(102, "onboot", "0")
	e.sim.SetConfig(110, "cores", "8")
	e.sim.SetConfig(112, "net0", "virtio=BC:24:11:00:00:01,bridge=vmbr0")

	p := e.plan("", false)
	out := text(p)
	if len(p.Drift) != 3 || !p.Empty() {
		t.Fatalf("want 3 drifts and no changes without --yes:\n%s", out)
	}
	for _, want := range []string{
		"dns1 (VM 102): onboot is 0, homelab.yaml says 1; live: fixed with --yes",
		"cloud (VM 110): cores is 8, homelab.yaml says 2; needs a restart: fix it with --replace cloud",
		"media (VM 112): net0 is virtio=BC:24:11:00:00:01,bridge=vmbr0",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if res := e.apply(e.plan("", true)); res.Err() != nil {
		t.Fatal(res.Err())
	}
	if c := e.sim.VM(112).Config; c["net0"] != "virtio=BC:24:11:00:00:01,bridge=vmbr1" {
		t.Errorf("net0 after --yes = %q (the MAC must be kept)", c["net0"])
	}
	p = e.plan("", false)
	if len(p.Drift) != 1 || p.Drift[0].Key != "cores" {
		t.Fatalf("after --yes only the cores drift should remain:\n%s", text(p))
	}
	e.noRejections()
}

func TestFailedTaskSurfacesWithExitStatus(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.sim.FailNextTask("qmcreate", "111", "unable to create VM 111 - lvcreate 'pve/vm-111-disk-1' error: insufficient free space")
	res := e.apply(e.plan("", false))
	var te *bootstrap.TaskError
	if !errors.As(res.Err(), &te) || !strings.Contains(te.ExitStatus, "insufficient free space") || te.Type != "qmcreate" {
		t.Fatalf("error = %v, want the task's exit status", res.Err())
	}
	if !strings.Contains(res.Err().Error(), "photos: task qmcreate 111 failed: unable to create VM 111") {
		t.Errorf("error does not name the host: %v", res.Err())
	}
	if len(res.Done) != 5+1+1+1+6 { // 5 VMs, network, storage, image, 6 snippets
		t.Errorf("the other VMs should be built: done %d steps: %v", len(res.Done), res.Done)
	}
	if e.sim.VM(111) != nil {
		t.Error("VM 111 exists after its failed create")
	}
	// A second run creates what is missing.
	p := e.plan("", false)
	if len(p.VMs) != 1 || p.VMs[0].Host != "photos" {
		t.Fatalf("rerun plan:\n%s", text(p))
	}
	if res := e.apply(p); res.Err() != nil {
		t.Fatal(res.Err())
	}
	e.noRejections()
}

func TestLockContentionAnd5xxRetried(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.sim.LockTimeouts(4)
	e.sim.ServerErrors(2, 503, "/qemu")
	e.sim.ServerErrors(1, 500, "/tasks/")
	res := e.apply(e.plan("", false))
	if err := res.Err(); err != nil {
		t.Fatalf("bootstrap failed despite retries: %v", err)
	}
	if got := e.client.Retries(); got < 7 {
		t.Errorf("client retried %d times, want at least 7", got)
	}
	if st := e.sim.Stats(); st.Injected != 7 {
		t.Errorf("injected %d failures, want 7", st.Injected)
	}
	e.noRejections()
}

func TestReplaceKeepsDataDisk(t *testing.T) {
	e := newEnv(t, fastTasks())
	e.bootstrap()
	before := e.sim.VM(110).Config
	dataVol := strings.Split(before["scsi1"], ",")[0]
	e.sim.ResetStats()

	p := e.plan("cloud", false)
	if len(p.VMs) != 1 || p.VMs[0].Kind != "replace" {
		t.Fatalf("replace plan:\n%s", text(p))
	}
	if res := e.apply(p); res.Err() != nil {
		t.Fatal(res.Err())
	}
	after := e.sim.VM(110)
	if got := strings.Split(after.Config["scsi1"], ",")[0]; got != dataVol {
		t.Fatalf("data disk changed: %s -> %s", dataVol, got)
	}
	if !after.Running || !strings.Contains(after.Config["scsi0"], "size=16G") {
		t.Errorf("after replace: running=%v scsi0=%q", after.Running, after.Config["scsi0"])
	}
	st := e.sim.Stats()
	if st.Tasks["qmconfig"] != 1 || st.ByRoute["PUT /nodes/{node}/qemu/{vmid}/config"] != 1 || st.Tasks["qmshutdown"] != 1 {
		t.Errorf("replace did not stop, delete and re-import the OS disk: %v %v", st.Tasks, st.ByRoute)
	}
	for _, id := range e.sim.Volumes("pve") {
		if strings.HasPrefix(id, "local-lvm:vm-110-") && strings.Contains(id, "unused") {
			t.Errorf("left-over volume %s", id)
		}
	}
	if strings.Contains(strings.Join(e.sim.Volumes("pve"), " "), "unused") {
		t.Error("old OS disk left as unused")
	}
	if p := e.plan("", false); !p.Empty() || len(p.Drift) != 0 {
		t.Errorf("not in order after replace:\n%s", text(p))
	}
	e.noRejections()
}

func TestSchemaRejectsBadRequests(t *testing.T) {
	e := newEnv(t, fastTasks())
	ctx := context.Background()
	base := url.Values{"vmid": {"150"}, "net0": {"virtio,bridge=vmbr1"}, "cores": {"1"}, "scsihw": {"virtio-scsi-single"}}
	for _, c := range []struct{ key, value, want string }{
		{"cores", "one", "type check ('integer') failed - got 'one'"},
		{"scsihw", "virtio-blk", "does not have a value in the enumeration"},
		{"net0", "virtio,bridge=vmbr1,speed=fast", "speed: property is not defined"},
		{"net0", "virtio,bridge=vmbr1,firewall=maybe", "firewall: type check ('boolean') failed"},
	} {
		v := url.Values{}
		for k, x := range base {
			v[k] = x
		}
		v.Set(c.key, c.value)
		err := e.client.Do(ctx, "POST", "/nodes/pve/qemu", v, nil)
		var ae *bootstrap.APIError
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Errors[c.key], c.want) {
			t.Errorf("%s=%s: err %v, want 400 with %q", c.key, c.value, err, c.want)
		}
	}
	if err := e.client.Do(ctx, "GET", "/nodes/pve/qemu/150/frobnicate", nil, nil); err == nil {
		t.Error("an unknown path was accepted")
	}
	if st := e.sim.Stats(); st.Rejected != 5 {
		t.Errorf("rejected %d requests, want 5", st.Rejected)
	}
	if e.client.Retries() != 0 {
		t.Error("a 400 was retried")
	}
}
