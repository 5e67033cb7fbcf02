package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

func (vm *VM) status() string {
	if vm.Running {
		return "running"
	}
	return "stopped"
}

func (s *Sim) sortedVMs() []*VM {
	var out []*VM
	for _, vm := range s.vms {
		out = append(out, vm)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}

func listVMs(s *Sim, p params) (any, *apiError) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for _, vm := range s.sortedVMs() {
		if vm.Node == n {
			out = append(out, map[string]any{"vmid": vm.VMID, "name": vm.Config["name"], "status": vm.status()})
		}
	}
	return out, nil
}

// vm finds the VM of a request on its node; a busy VM's config is locked.
func (s *Sim) vm(p params, modify bool) (*VM, *apiError) {
	vm := s.vms[p.vmid()]
	if vm == nil || vm.Node != p.vars["node"] {
		return nil, errf(http.StatusInternalServerError, "Configuration file 'nodes/%s/qemu-server/%s.conf' does not exist", p.vars["node"], p.vars["vmid"])
	}
	if modify && vm.busy != "" {
		return nil, lockErr(p.vars["vmid"])
	}
	return vm, nil
}

// notConfig lists create and config parameters that are not VM settings.
var notConfig = map[string]bool{"node": true, "vmid": true, "start": true, "delete": true, "force": true,
	"digest": true, "skiplock": true, "revert": true, "background_delay": true, "archive": true, "storage": true,
	"unique": true, "pool": true, "bwlimit": true, "live-restore": true, "import-working-storage": true}

func createVM(s *Sim, p params) (any, *apiError) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	id := p.vmid()
	if other := s.vms[id]; other != nil {
		return nil, errf(http.StatusInternalServerError, "unable to create VM %d - VM %d already exists on node '%s'", id, id, other.Node)
	}
	vm := &VM{VMID: id, Node: n, Config: map[string]string{"lock": "create"}}
	s.vms[id] = vm
	set := map[string]string{}
	for k := range p.form {
		if !notConfig[k] {
			set[k] = p.form.Get(k)
		}
	}
	upid := s.startTask(n, "qmcreate", strconv.Itoa(id), func() string {
		delete(vm.Config, "lock")
		if msg := s.applyConfig(vm, set, nil, false); msg != "" {
			delete(s.vms, id)
			return msg
		}
		if _, ok := vm.Config["smbios1"]; !ok {
			vm.Config["smbios1"] = "uuid=" + fakeUUID(id)
		}
		vm.Config["vmgenid"] = fakeUUID(id + 1)
		return ""
	})
	return upid, nil
}

func fakeUUID(n int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n) }

func getConfig(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, false)
	if err != nil {
		return nil, err
	}
	create := s.opts.Schema.Methods["POST /nodes/{node}/qemu"]
	out := map[string]any{}
	for k, v := range vm.Config {
		out[k] = v
		if create != nil {
			if prop := create.param(k); prop != nil && (prop.Type == "integer" || prop.Type == "boolean" || prop.Type == "number") {
				if f, perr := strconv.ParseFloat(v, 64); perr == nil {
					out[k] = f
				} else if prop.Type == "boolean" {
					out[k] = b2i(boolRe.MatchString(v) && strings.Contains("1 true yes on", strings.ToLower(v)))
				}
			}
		}
	}
	out["digest"] = digest(vm.Config)
	return out, nil
}

func digest(c map[string]string) string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha1.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s: %s\n", k, c[k])
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (s *Sim) configChange(p params) (vm *VM, set map[string]string, del []string, err *apiError) {
	vm, err = s.vm(p, true)
	if err != nil {
		return nil, nil, nil, err
	}
	if d := p.get("digest"); d != "" && d != digest(vm.Config) {
		return nil, nil, nil, errf(http.StatusInternalServerError, "detected modified configuration - file changed by other user? Try again.")
	}
	set = map[string]string{}
	for k := range p.form {
		if !notConfig[k] {
			set[k] = p.form.Get(k)
		}
	}
	for _, k := range strings.FieldsFunc(p.get("delete"), func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		if _, both := set[k]; both {
			return nil, nil, nil, &apiError{status: http.StatusBadRequest, msg: "Parameter verification failed.",
				errs: map[string]string{k: "unable to delete and set the same setting"}}
		}
		del = append(del, k)
	}
	return vm, set, del, nil
}

func putConfig(s *Sim, p params) (any, *apiError) {
	vm, set, del, err := s.configChange(p)
	if err != nil {
		return nil, err
	}
	if msg := s.applyConfig(vm, set, del, boolRe.MatchString(p.get("force")) && p.get("force") != "0"); msg != "" {
		return nil, errf(http.StatusInternalServerError, "%s", msg)
	}
	return nil, nil
}

func postConfig(s *Sim, p params) (any, *apiError) {
	vm, set, del, err := s.configChange(p)
	if err != nil {
		return nil, err
	}
	force := p.get("force") == "1"
	return s.startTask(vm.Node, "qmconfig", strconv.Itoa(vm.VMID), func() string {
		return s.applyConfig(vm, set, del, force)
	}), nil
}

func vmStatus(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, false)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"vmid": vm.VMID, "name": vm.Config["name"], "status": vm.status(), "qmpstatus": vm.status()}
	if agentEnabled(vm.Config["agent"]) {
		out["agent"] = 1
	}
	if lock, ok := vm.Config["lock"]; ok {
		out["lock"] = lock
	}
	return out, nil
}

func agentEnabled(v string) bool {
	first := strings.Split(v, ",")[0]
	return first == "1" || first == "enabled=1"
}

func startVM(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, true)
	if err != nil {
		return nil, err
	}
	if vm.Running {
		return nil, errf(http.StatusInternalServerError, "VM %d already running", vm.VMID)
	}
	return s.startTask(vm.Node, "qmstart", strconv.Itoa(vm.VMID), func() string {
		for k, v := range vm.Config {
			if strings.HasPrefix(k, "net") {
				for _, o := range strings.Split(v, ",") {
					if b, ok := strings.CutPrefix(o, "bridge="); ok && !s.hasBridge(vm.Node, b) {
						return fmt.Sprintf("bridge '%s' does not exist", b)
					}
				}
			}
		}
		if cc := vm.Config["cicustom"]; cc != "" {
			for _, o := range strings.Split(cc, ",") {
				_, vol, _ := strings.Cut(o, "=")
				if msg := s.checkSnippet(vol); msg != "" {
					return msg
				}
			}
		}
		vm.Running = true
		vm.Started = s.opts.Now()
		if s.opts.OnStart != nil {
			st := Started{Node: vm.Node, VMID: vm.VMID, Name: vm.Config["name"], Config: maps.Clone(vm.Config)}
			for _, o := range strings.Split(vm.Config["cicustom"], ",") {
				if vol, ok := strings.CutPrefix(o, "vendor="); ok {
					st.VendorData, _ = os.ReadFile(s.snippetPath(vol))
				}
			}
			go s.opts.OnStart(st)
		}
		return ""
	}), nil
}

// snippetPath is the file of a snippet volume ("local:snippets/x.yaml").
func (s *Sim) snippetPath(volid string) string {
	stor, name, _ := strings.Cut(volid, ":")
	st := s.storages[stor]
	if st == nil {
		return ""
	}
	return filepath.Join(s.opts.Root, st.Path, name)
}

func (s *Sim) checkSnippet(volid string) string {
	stor, name, _ := strings.Cut(volid, ":")
	st := s.storages[stor]
	if st == nil {
		return fmt.Sprintf("storage '%s' does not exist", stor)
	}
	if !st.allows("snippets") {
		return fmt.Sprintf("storage '%s' does not support content-type 'snippets'", stor)
	}
	if _, err := os.Stat(filepath.Join(s.opts.Root, st.Path, name)); err != nil {
		return fmt.Sprintf("volume '%s' does not exist", volid)
	}
	return ""
}

func stopVM(s *Sim, p params) (any, *apiError) { return s.stop(p, "qmstop") }

func shutdownVM(s *Sim, p params) (any, *apiError) { return s.stop(p, "qmshutdown") }

func (s *Sim) stop(p params, typ string) (any, *apiError) {
	vm, err := s.vm(p, true)
	if err != nil {
		return nil, err
	}
	return s.startTask(vm.Node, typ, strconv.Itoa(vm.VMID), func() string {
		vm.Running = false
		return ""
	}), nil
}

func destroyVM(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, true)
	if err != nil {
		return nil, err
	}
	if vm.Running {
		return nil, errf(http.StatusInternalServerError, "VM %d is running - destroy failed", vm.VMID)
	}
	unref := p.get("destroy-unreferenced-disks") == "1"
	return s.startTask(vm.Node, "qmdestroy", strconv.Itoa(vm.VMID), func() string {
		for k, v := range vm.Config {
			if diskKeyRe.MatchString(k) || strings.HasPrefix(k, "unused") {
				delete(s.volumes[vm.Node], strings.Split(v, ",")[0])
			}
		}
		if unref {
			for id, vol := range s.volumes[vm.Node] {
				if vol.VMID == vm.VMID {
					delete(s.volumes[vm.Node], id)
				}
			}
		}
		delete(s.vms, vm.VMID)
		return ""
	}), nil
}

func agentPing(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, false)
	if err != nil {
		return nil, err
	}
	switch {
	case !agentEnabled(vm.Config["agent"]):
		return nil, errf(http.StatusInternalServerError, "No QEMU guest agent configured")
	case !vm.Running:
		return nil, errf(http.StatusInternalServerError, "VM %d is not running", vm.VMID)
	case s.opts.Now().Sub(vm.Started) < s.opts.AgentDelay:
		return nil, errf(http.StatusInternalServerError, "QEMU guest agent is not running")
	}
	return map[string]any{"result": map[string]any{}}, nil
}

var ifaceLineRe = regexp.MustCompile(`(?m)^\s*iface\s+(\S+)`)

func (s *Sim) hasBridge(node, name string) bool {
	if s.bridges[node][name] {
		return true
	}
	if !s.opts.BridgesFromFiles {
		return false
	}
	files, _ := filepath.Glob(filepath.Join(s.opts.Root, "etc/network/interfaces.d/*"))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		for _, m := range ifaceLineRe.FindAllStringSubmatch(string(data), -1) {
			if m[1] == name {
				return true
			}
		}
	}
	return false
}
