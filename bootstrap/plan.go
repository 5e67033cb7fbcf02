package bootstrap

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

var macRe = lazyre.New(`^(?i:[0-9a-f]{2}(:[0-9a-f]{2}){5})$`)

// Call is one API request of a plan: what --dry-run --json prints.
type Call struct {
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Params map[string]string `json:"params"`
	// Task marks a request that starts a task the plan waits for.
	Task bool `json:"-"`
}

// Action is one thing a step does, in order.
type Action struct {
	Call *Call
	// WriteFile writes Data to WriteFile (a host path, under the root).
	WriteFile string
	Data      []byte
	Mode      os.FileMode // 0: 0644
	// Reload runs the network reload (ifreload -a).
	Reload bool
	// WaitAgent waits for the guest agent of VMID on Node.
	WaitAgent bool
	Node      string
	VMID      int
	// KeepDisk checks after a replacement that Disk still holds Volume.
	KeepDisk, Volume string
}

// Step is one change: lab-wide setup or one VM's creation or repair.
type Step struct {
	Kind    string // network, storage, image, snippet, create, start, update, replace
	Host    string
	Summary string
	Actions []Action
}

// Plan is what a bootstrap run would change.
type Plan struct {
	Settings Settings
	// Setup runs first, one step after the other; then VMs run in parallel
	// (each VM's actions in order).
	Setup []*Step
	VMs   []*Step
	Drift []Drift
	// Manual lists what the user must do by hand (when not on the node).
	Manual []string
	// InOrder lists the hosts whose VM is as homelab.yaml says.
	InOrder []string
	Skipped []string
	// Problems are hosts the plan cannot handle; Apply fails on them.
	Problems []string
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Setup) == 0 && len(p.VMs) == 0 }

// Calls lists every API request the plan makes that changes the cluster,
// in order (setup, then each VM's).
func (p *Plan) Calls() []Call {
	out := []Call{}
	for _, st := range append(slices.Clone(p.Setup), p.VMs...) {
		for _, a := range st.Actions {
			if a.Call != nil {
				out = append(out, *a.Call)
			}
		}
	}
	return out
}

// Local describes the node bootstrap runs on, when it does: files are
// written under Root (the node's "/"; a folder in tests).
type Local struct {
	Root string
	Node string
}

// PlanOptions steer planning.
type PlanOptions struct {
	// Local is the node bootstrap runs on, or nil when it runs elsewhere:
	// then the network file and snippets are listed as manual steps.
	Local *Local
	// Yes fixes live drift.
	Yes bool
	// Replace names a host whose OS disk is recreated (data disk kept).
	Replace string
}

// MakePlan compares the lab's VMs with the live cluster. It is pure apart
// from reading the local files it would write (under Local.Root).
func MakePlan(s Settings, specs []*VMSpec, live *Live, o PlanOptions) (*Plan, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	p := &Plan{Settings: s}
	if o.Replace != "" && !slices.ContainsFunc(specs, func(v *VMSpec) bool { return v.Host == o.Replace }) {
		return nil, fmt.Errorf("--replace %s: no such host with vm: settings in homelab.yaml", o.Replace)
	}
	p.network(o.Local)
	if o.Local != nil {
		var others []string
		for _, v := range specs {
			if v.Node != o.Local.Node && !slices.Contains(others, v.Node) {
				others = append(others, v.Node)
			}
		}
		for _, n := range others {
			p.Manual = append(p.Manual, fmt.Sprintf("on node %s: run bootstrap there too, for %s and its NAT (the API cannot set up masquerading)", n, s.Bridge))
		}
	}
	needImage := map[string]bool{}
	for _, v := range specs {
		lv := live.VMs[v.VMID]
		switch {
		case lv == nil && o.Replace == v.Host:
			return nil, fmt.Errorf("--replace %s: VM %d does not exist; a plain bootstrap creates it", v.Host, v.VMID)
		case lv == nil && !live.Offline && !p.snippetReachable(live, v, o.Local):
			p.Problems = append(p.Problems, fmt.Sprintf("%s: its vendor snippet %s is not on node %s and bootstrap cannot write it from here: run bootstrap on %s too, or use a shared storage as image_storage",
				v.Host, v.SnippetVolume(s), v.Node, v.Node))
		case lv == nil:
			needImage[v.Node] = true
			p.VMs = append(p.VMs, createStep(s, v))
		case lv.Config == nil:
			p.Problems = append(p.Problems, fmt.Sprintf("%s: VMID %d is a container or unreadable on node %s; refusing to touch it", v.Host, v.VMID, lv.Node))
		case !slices.Contains(strings.FieldsFunc(lv.Config["tags"], tagSep), ManagedTag) || lv.Config["name"] != v.Host && lv.Name != v.Host:
			p.Problems = append(p.Problems, fmt.Sprintf("%s: VM %d exists (name %q, tags %q) but is not this lab's VM; refusing to touch it",
				v.Host, v.VMID, lv.Config["name"], lv.Config["tags"]))
		case lv.Config["lock"] != "":
			p.Problems = append(p.Problems, fmt.Sprintf("%s: VM %d is locked (%s); finish or unlock it (qm unlock %d) first", v.Host, v.VMID, lv.Config["lock"], v.VMID))
		case o.Replace == v.Host:
			needImage[lv.Node] = true
			st, err := replaceStep(s, v, lv)
			if err != nil {
				return nil, err
			}
			p.VMs = append(p.VMs, st)
		default:
			drift := diff(s, v, lv)
			p.Drift = append(p.Drift, drift...)
			if st := repairStep(s, v, lv, drift, o.Yes); st != nil {
				p.VMs = append(p.VMs, st)
			} else if len(drift) == 0 {
				p.InOrder = append(p.InOrder, v.Host)
			}
		}
	}
	setup := p.storage(live)
	setup = append(setup, p.images(live, needImage)...)
	setup = append(setup, p.snippets(live, specs, o.Local)...)
	p.Setup = append(p.Setup, setup...)
	return p, nil
}

// snippetReachable: the VM's snippet is on its node, or bootstrap writes it.
func (p *Plan) snippetReachable(live *Live, v *VMSpec, loc *Local) bool {
	return live.Volumes[v.Node][v.SnippetVolume(p.Settings)] || loc != nil && (loc.Node == v.Node || live.Storage.Shared)
}

func tagSep(r rune) bool { return r == ';' || r == ',' || r == ' ' }

func (p *Plan) network(loc *Local) {
	want, rules := Interfaces(p.Settings), NodeRules(p.Settings)
	if loc == nil {
		p.Manual = append(p.Manual, fmt.Sprintf("on every node: write %s and %s as below and run `ifreload -a` (or run bootstrap on the node):\n%s\n%s",
			InterfacesFile, NodeRulesFile, indent(want), indent(rules)))
		return
	}
	if main, err := os.ReadFile(filepath.Join(loc.Root, "/etc/network/interfaces")); err == nil {
		if regexp.MustCompile(`(?m)^\s*iface\s+` + regexp.QuoteMeta(p.Settings.Bridge) + `\s`).Match(main) {
			p.Manual = append(p.Manual, fmt.Sprintf("%s is already defined in /etc/network/interfaces: bootstrap leaves the network alone; make sure it has %s and NAT for %s",
				p.Settings.Bridge, p.Settings.Gateway, p.Settings.CIDR))
			return
		}
		if !regexp.MustCompile(`(?m)^\s*source(-directory)?\s+/etc/network/interfaces\.d`).Match(main) {
			p.Manual = append(p.Manual, "add `source /etc/network/interfaces.d/*` to /etc/network/interfaces, or the lab bridge is not brought up")
		}
	}
	got, err := os.ReadFile(filepath.Join(loc.Root, InterfacesFile))
	gotRules, rerr := os.ReadFile(filepath.Join(loc.Root, NodeRulesFile))
	if err == nil && rerr == nil && bytes.Equal(got, want) && bytes.Equal(gotRules, rules) {
		return
	}
	p.Setup = append(p.Setup, &Step{Kind: "network", Summary: fmt.Sprintf("write %s (%s %s, NAT for %s via %s) and %s (guests cannot reach the node), then ifreload -a",
		InterfacesFile, p.Settings.Bridge, p.Settings.Gateway, p.Settings.CIDR, p.Settings.Uplink, NodeRulesFile),
		Actions: []Action{{WriteFile: NodeRulesFile, Data: rules}, {WriteFile: InterfacesFile, Data: want}, {Reload: true}}})
}

func (p *Plan) storage(live *Live) []*Step {
	content := slices.Clone(live.Storage.Content)
	var added []string
	for _, c := range []string{"import", "snippets"} {
		if !slices.Contains(content, c) {
			content = append(content, c)
			added = append(added, c)
		}
	}
	if len(added) == 0 {
		return nil
	}
	content = slices.DeleteFunc(content, func(c string) bool { return c == "" })
	return []*Step{{Kind: "storage", Summary: fmt.Sprintf("storage %s: allow content %s", live.Storage.ID, strings.Join(added, ",")),
		Actions: []Action{{Call: &Call{Method: http.MethodPut, Path: "/storage/" + live.Storage.ID,
			Params: map[string]string{"content": strings.Join(content, ",")}}}}}}
}

func (p *Plan) images(live *Live, need map[string]bool) []*Step {
	s := p.Settings
	var out []*Step
	done := false
	for _, n := range sortedKeys(need) {
		if live.Volumes[n][s.ImageVolume()] || (live.Storage.Shared && done) {
			continue
		}
		done = true
		params := map[string]string{"content": "import", "filename": s.ImageFile(), "url": s.ImageURL}
		if algo, sum, ok := strings.Cut(s.ImageChecksum, ":"); ok {
			params["checksum-algorithm"], params["checksum"] = algo, sum
		}
		out = append(out, &Step{Kind: "image", Summary: fmt.Sprintf("download %s to %s on %s (%s)", s.ImageFile(), s.ImageStorage, n, checksumNote(s)),
			Actions: []Action{{Call: &Call{Method: http.MethodPost, Path: "/nodes/" + n + "/storage/" + s.ImageStorage + "/download-url", Params: params, Task: true}}}})
	}
	return out
}

func checksumNote(s Settings) string {
	if s.ImageChecksum == "" {
		return "checksum from SHA512SUMS at run time"
	}
	algo, _, _ := strings.Cut(s.ImageChecksum, ":")
	return algo + " checked"
}

func (p *Plan) snippets(live *Live, specs []*VMSpec, loc *Local) []*Step {
	s := p.Settings
	var out []*Step
	for _, v := range specs {
		rel := filepath.Join(live.Storage.Path, "snippets", v.SnippetName)
		onHere := loc != nil && (loc.Node == v.Node || live.Storage.Shared)
		if !onHere {
			if !live.Volumes[v.Node][v.SnippetVolume(s)] {
				p.Manual = append(p.Manual, fmt.Sprintf("on node %s: %s must hold the vendor data of %s (bootstrap writes it when it runs on that node)", v.Node, rel, v.Host))
			}
			continue
		}
		if got, err := os.ReadFile(filepath.Join(loc.Root, rel)); err == nil && bytes.Equal(got, v.Snippet) {
			if fi, err := os.Stat(filepath.Join(loc.Root, rel)); err == nil && fi.Mode().Perm() == snippetMode(v) {
				continue
			}
		}
		out = append(out, &Step{Kind: "snippet", Host: v.Host, Summary: fmt.Sprintf("write %s (%s)", v.SnippetVolume(s), rel),
			Actions: []Action{{WriteFile: rel, Data: v.Snippet, Mode: snippetMode(v)}}})
	}
	return out
}

func vmPath(node string, vmid int, rest string) string {
	return fmt.Sprintf("/nodes/%s/qemu/%d%s", node, vmid, rest)
}

func createStep(s Settings, v *VMSpec) *Step {
	return &Step{Kind: "create", Host: v.Host,
		Summary: fmt.Sprintf("create %s: VM %d on %s, %d cores, %d MiB, disk %s, data %s, %s on %s", v.Host, v.VMID, v.Node, v.Cores, v.Memory, v.Disk, v.Data, v.IP, s.Bridge),
		Actions: []Action{
			{Call: &Call{Method: http.MethodPost, Path: "/nodes/" + v.Node + "/qemu", Params: v.createParams(s), Task: true}},
			{Call: &Call{Method: http.MethodPut, Path: vmPath(v.Node, v.VMID, "/resize"), Params: map[string]string{"disk": "scsi0", "size": v.Disk}, Task: true}},
			{Call: &Call{Method: http.MethodPost, Path: vmPath(v.Node, v.VMID, "/status/start"), Params: map[string]string{}, Task: true}},
			{WaitAgent: true, Node: v.Node, VMID: v.VMID},
		}}
}

// replaceStep recreates the OS disk from the image and rewrites the VM's
// settings; the data disk (scsi1) stays attached throughout.
func replaceStep(s Settings, v *VMSpec, lv *LiveVM) (*Step, error) {
	data := propString(lv.Config["scsi1"], "file")["file"]
	set := v.settings(s)
	if data == "" {
		if data = detachedData(lv); data == "" {
			return nil, fmt.Errorf("--replace %s: VM %d has no data disk at scsi1 (nor a single detached one); nothing to keep", v.Host, v.VMID)
		}
		set["scsi1"] = data + ",iothread=1,discard=on"
	}
	set["scsi0"] = v.osDisk(s)
	set["net0"] = wantNet(s, lv.Config["net0"])
	var acts []Action
	if lv.Status == "running" {
		acts = append(acts, Action{Call: &Call{Method: http.MethodPost, Path: vmPath(lv.Node, v.VMID, "/status/shutdown"),
			Params: map[string]string{"forceStop": "1", "timeout": "180"}, Task: true}})
	}
	acts = append(acts,
		Action{Call: &Call{Method: http.MethodPut, Path: vmPath(lv.Node, v.VMID, "/config"), Params: map[string]string{"delete": "scsi0", "force": "1"}}},
		Action{Call: &Call{Method: http.MethodPost, Path: vmPath(lv.Node, v.VMID, "/config"), Params: set, Task: true}},
		Action{Call: &Call{Method: http.MethodPut, Path: vmPath(lv.Node, v.VMID, "/resize"), Params: map[string]string{"disk": "scsi0", "size": v.Disk}, Task: true}},
		Action{Call: &Call{Method: http.MethodPost, Path: vmPath(lv.Node, v.VMID, "/status/start"), Params: map[string]string{}, Task: true}},
		Action{WaitAgent: true, Node: lv.Node, VMID: v.VMID},
		Action{KeepDisk: "scsi1", Volume: data, Node: lv.Node, VMID: v.VMID},
	)
	return &Step{Kind: "replace", Host: v.Host,
		Summary: fmt.Sprintf("replace %s: VM %d gets a fresh OS disk from %s; data disk %s stays attached", v.Host, v.VMID, s.ImageFile(), data),
		Actions: acts}, nil
}

func indent(b []byte) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(string(b), "\n"), "\n", "\n    ")
}
