package pvesim

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

type params struct {
	vars map[string]string
	form url.Values
}

func (p params) get(k string) string {
	if v, ok := p.vars[k]; ok {
		return v
	}
	return p.form.Get(k)
}

func (p params) has(k string) bool { _, ok := p.form[k]; return ok }

func (p params) vmid() int { n, _ := strconv.Atoi(p.get("vmid")); return n }

type handler func(s *Sim, p params) (any, *apiError)

var routes map[string]handler

func init() {
	routes = map[string]handler{
		"GET /version":                                      getVersion,
		"GET /nodes":                                        getNodes,
		"GET /cluster/resources":                            getResources,
		"GET /nodes/{node}/network":                         getNetwork,
		"GET /storage/{storage}":                            getStorage,
		"PUT /storage/{storage}":                            putStorage,
		"GET /nodes/{node}/storage/{storage}/content":       getContent,
		"POST /nodes/{node}/storage/{storage}/download-url": downloadURL,
		"GET /nodes/{node}/qemu":                            listVMs,
		"POST /nodes/{node}/qemu":                           createVM,
		"GET /nodes/{node}/qemu/{vmid}/config":              getConfig,
		"PUT /nodes/{node}/qemu/{vmid}/config":              putConfig,
		"POST /nodes/{node}/qemu/{vmid}/config":             postConfig,
		"PUT /nodes/{node}/qemu/{vmid}/resize":              resizeDisk,
		"GET /nodes/{node}/qemu/{vmid}/status/current":      vmStatus,
		"POST /nodes/{node}/qemu/{vmid}/status/start":       startVM,
		"POST /nodes/{node}/qemu/{vmid}/status/stop":        stopVM,
		"POST /nodes/{node}/qemu/{vmid}/status/shutdown":    shutdownVM,
		"DELETE /nodes/{node}/qemu/{vmid}":                  destroyVM,
		"POST /nodes/{node}/qemu/{vmid}/agent/ping":         agentPing,
		"GET /nodes/{node}/tasks/{upid}/status":             taskStatus,
	}
}

func getVersion(s *Sim, p params) (any, *apiError) {
	return map[string]any{"version": "9.1.1", "release": "9.1", "repoid": "pvesim"}, nil
}

func (s *Sim) node(p params) (string, *apiError) {
	n := p.vars["node"]
	if s.volumes[n] == nil {
		return "", errf(http.StatusInternalServerError, "hostname lookup '%s' failed - failed to get address info for: %s: Name or service not known", n, n)
	}
	return n, nil
}

func getNodes(s *Sim, p params) (any, *apiError) {
	var out []map[string]any
	for _, n := range s.opts.Nodes {
		out = append(out, map[string]any{"node": n, "status": "online", "type": "node", "id": "node/" + n})
	}
	return out, nil
}

func getResources(s *Sim, p params) (any, *apiError) {
	out := []map[string]any{}
	typ := p.get("type")
	if typ == "" || typ == "vm" {
		for _, vm := range s.sortedVMs() {
			out = append(out, map[string]any{"id": fmt.Sprintf("qemu/%d", vm.VMID), "type": "qemu", "vmid": vm.VMID,
				"node": vm.Node, "name": vm.Config["name"], "status": vm.status(), "template": 0})
		}
	}
	if typ == "" || typ == "node" {
		for _, n := range s.opts.Nodes {
			out = append(out, map[string]any{"id": "node/" + n, "type": "node", "node": n, "status": "online"})
		}
	}
	if typ == "" || typ == "storage" {
		for _, n := range s.opts.Nodes {
			for _, st := range s.storages {
				out = append(out, map[string]any{"id": "storage/" + n + "/" + st.ID, "type": "storage", "node": n,
					"storage": st.ID, "content": strings.Join(st.Content, ","), "shared": b2i(st.Shared), "status": "available"})
			}
		}
	}
	return out, nil
}

func getNetwork(s *Sim, p params) (any, *apiError) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for b := range s.bridges[n] {
		out = append(out, map[string]any{"iface": b, "type": "bridge", "active": 1, "autostart": 1})
	}
	return out, nil
}

func getStorage(s *Sim, p params) (any, *apiError) {
	st := s.storages[p.vars["storage"]]
	if st == nil {
		return nil, errf(http.StatusInternalServerError, "storage '%s' does not exist", p.vars["storage"])
	}
	out := map[string]any{"storage": st.ID, "type": st.Type, "content": strings.Join(st.Content, ","), "digest": "0"}
	if st.Path != "" {
		out["path"] = st.Path
	}
	if st.Shared {
		out["shared"] = 1
	}
	return out, nil
}

func putStorage(s *Sim, p params) (any, *apiError) {
	st := s.storages[p.vars["storage"]]
	if st == nil {
		return nil, errf(http.StatusInternalServerError, "storage '%s' does not exist", p.vars["storage"])
	}
	if p.has("content") {
		st.Content = strings.Split(p.get("content"), ",")
	}
	return map[string]any{"storage": st.ID, "type": st.Type}, nil
}

func (st *Storage) allows(content string) bool { return slices.Contains(st.Content, content) }

func getContent(s *Sim, p params) (any, *apiError) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	st := s.storages[p.vars["storage"]]
	if st == nil {
		return nil, errf(http.StatusInternalServerError, "storage '%s' does not exist", p.vars["storage"])
	}
	want := p.get("content")
	out := []map[string]any{}
	for _, v := range s.sortedVolumes(n, st.ID) {
		if want != "" && v.Content != want {
			continue
		}
		e := map[string]any{"volid": v.VolID, "content": v.Content, "format": v.Format, "size": v.Size}
		if v.VMID != 0 {
			e["vmid"] = v.VMID
		}
		out = append(out, e)
	}
	if st.Path != "" && st.allows("snippets") && (want == "" || want == "snippets") {
		entries, _ := os.ReadDir(filepath.Join(s.opts.Root, st.Path, "snippets"))
		for _, e := range entries {
			if fi, ierr := e.Info(); ierr == nil && fi.Mode().IsRegular() {
				out = append(out, map[string]any{"volid": st.ID + ":snippets/" + e.Name(), "content": "snippets", "format": "snippet", "size": fi.Size()})
			}
		}
	}
	return out, nil
}

func (s *Sim) sortedVolumes(node, storage string) []*Volume {
	var out []*Volume
	for id, v := range s.volumes[node] {
		if strings.HasPrefix(id, storage+":") {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VolID < out[j].VolID })
	return out
}

var importNameRe = regexp.MustCompile(`\.(qcow2|raw|vmdk|ova)$`)

func downloadURL(s *Sim, p params) (any, *apiError) {
	n, err := s.node(p)
	if err != nil {
		return nil, err
	}
	st := s.storages[p.vars["storage"]]
	if st == nil {
		return nil, errf(http.StatusInternalServerError, "storage '%s' does not exist", p.vars["storage"])
	}
	content, name := p.get("content"), p.get("filename")
	if !st.allows(content) {
		return nil, errf(http.StatusInternalServerError, "storage '%s' does not support '%s' content", st.ID, content)
	}
	if content == "import" && !importNameRe.MatchString(name) {
		return nil, &apiError{status: http.StatusBadRequest, msg: "Parameter verification failed.", errs: map[string]string{"filename": "invalid filename or wrong extension"}}
	}
	volid := st.ID + ":" + content + "/" + name
	want, known := s.opts.KnownImages[p.get("url")]
	got := strings.ToLower(p.get("checksum"))
	return s.startTask(n, "download", st.ID, func() string {
		if known && p.get("checksum-algorithm") == "sha256" && got != "" && got != want {
			return fmt.Sprintf("checksum mismatch: got '%s' != expected '%s'", want, got)
		}
		s.volumes[n][volid] = &Volume{VolID: volid, Content: content, Format: strings.TrimPrefix(filepath.Ext(name), "."), Size: s.opts.ImageSize}
		return ""
	}), nil
}

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

var diskKeyRe = regexp.MustCompile(`^(scsi|ide|sata|virtio|efidisk|tpmstate)\d+$`)
var allocRe = regexp.MustCompile(`^([a-z][a-z0-9\-_.]*[a-z0-9]):(\d+(\.\d+)?)$`)

// configKeys are create/config parameters that are not VM settings.
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

// applyConfig sets and deletes config keys, allocating and importing disks;
// it returns Proxmox's error message on failure.
func (s *Sim) applyConfig(vm *VM, set map[string]string, del []string, force bool) string {
	for _, k := range del {
		old, ok := vm.Config[k]
		if !ok {
			continue
		}
		delete(vm.Config, k)
		if diskKeyRe.MatchString(k) || strings.HasPrefix(k, "unused") {
			volid := strings.Split(strings.SplitN(old, ",", 2)[0], "=")[0]
			if strings.HasPrefix(k, "unused") || force || strings.HasSuffix(volid, "-cloudinit") {
				delete(s.volumes[vm.Node], volid)
			} else {
				vm.Config[s.nextUnused(vm)] = volid
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := set[k]
		if diskKeyRe.MatchString(k) {
			nv, msg := s.allocDisk(vm, k, v)
			if msg != "" {
				return msg
			}
			v = nv
		}
		vm.Config[k] = v
	}
	return ""
}

func (s *Sim) nextUnused(vm *VM) string {
	for i := 0; ; i++ {
		k := fmt.Sprintf("unused%d", i)
		if _, ok := vm.Config[k]; !ok {
			return k
		}
	}
}

// allocDisk turns "STORAGE:SIZE", "STORAGE:0,import-from=VOL" and
// "STORAGE:cloudinit" into an allocated volume and its config value.
func (s *Sim) allocDisk(vm *VM, key, v string) (string, string) {
	parts := strings.Split(v, ",")
	file := parts[0]
	if strings.HasPrefix(file, "file=") {
		file = strings.TrimPrefix(file, "file=")
	}
	var opts []string
	importFrom := ""
	for _, o := range parts[1:] {
		if strings.HasPrefix(o, "import-from=") {
			importFrom = strings.TrimPrefix(o, "import-from=")
			continue
		}
		if strings.HasPrefix(o, "size=") {
			continue
		}
		opts = append(opts, o)
	}
	stor, rest, _ := strings.Cut(file, ":")
	st := s.storages[stor]
	m := allocRe.FindStringSubmatch(file)
	var size int64
	name := ""
	switch {
	case rest == "cloudinit":
		if st == nil {
			return "", fmt.Sprintf("storage '%s' does not exist", stor)
		}
		name = fmt.Sprintf("%s:vm-%d-cloudinit", stor, vm.VMID)
		size = 4 << 20
		opts = append([]string{"media=cdrom"}, opts...)
	case m != nil:
		if st == nil {
			return "", fmt.Sprintf("storage '%s' does not exist", stor)
		}
		if !st.allows("images") {
			return "", fmt.Sprintf("storage '%s' does not support content-type 'images'", stor)
		}
		gib, _ := strconv.ParseFloat(m[2], 64)
		size = int64(gib * (1 << 30))
		if importFrom != "" {
			src := s.volumes[vm.Node][importFrom]
			if src == nil {
				return "", fmt.Sprintf("volume '%s' does not exist", importFrom)
			}
			size = src.Size
		} else if size == 0 {
			return "", fmt.Sprintf("%s: size 0 needs import-from", key)
		}
		name = s.newDiskName(vm, stor)
	default: // an existing volume, re-attached
		if _, ok := s.volumes[vm.Node][file]; !ok {
			return "", fmt.Sprintf("volume '%s' does not exist", file)
		}
		for k, cv := range vm.Config {
			if strings.HasPrefix(k, "unused") && cv == file {
				delete(vm.Config, k)
			}
		}
		size = s.volumes[vm.Node][file].Size
		name = file
	}
	if _, ok := s.volumes[vm.Node][name]; !ok {
		s.volumes[vm.Node][name] = &Volume{VolID: name, Content: "images", Format: "raw", Size: size, VMID: vm.VMID}
	}
	return strings.Join(append(append([]string{name}, opts...), "size="+humanSize(size)), ","), ""
}

func (s *Sim) newDiskName(vm *VM, stor string) string {
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s:vm-%d-disk-%d", stor, vm.VMID, i)
		if _, ok := s.volumes[vm.Node][name]; !ok {
			return name
		}
	}
}

// humanSize writes a byte count as Proxmox does in disk options (3G, 512M).
func humanSize(b int64) string {
	switch {
	case b%(1<<40) == 0:
		return fmt.Sprintf("%dT", b>>40)
	case b%(1<<30) == 0:
		return fmt.Sprintf("%dG", b>>30)
	case b%(1<<20) == 0:
		return fmt.Sprintf("%dM", b>>20)
	case b%(1<<10) == 0:
		return fmt.Sprintf("%dK", b>>10)
	}
	return strconv.FormatInt(b, 10)
}

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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
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

var sizeArgRe = regexp.MustCompile(`^(\+?)(\d+(?:\.\d+)?)([KMGT]?)$`)

func parseSize(num, unit string) int64 {
	f, _ := strconv.ParseFloat(num, 64)
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[unit]
	return int64(f * mult)
}

func resizeDisk(s *Sim, p params) (any, *apiError) {
	vm, err := s.vm(p, true)
	if err != nil {
		return nil, err
	}
	disk := p.get("disk")
	cur, ok := vm.Config[disk]
	if !ok {
		return nil, errf(http.StatusInternalServerError, "disk '%s' does not exist", disk)
	}
	volid := strings.Split(cur, ",")[0]
	vol := s.volumes[vm.Node][volid]
	m := sizeArgRe.FindStringSubmatch(p.get("size"))
	newSize := parseSize(m[2], m[3])
	if m[1] == "+" {
		newSize += vol.Size
	}
	return s.startTask(vm.Node, "qmresize", strconv.Itoa(vm.VMID), func() string {
		if newSize < vol.Size {
			return "shrinking disks is not supported"
		}
		vol.Size = newSize
		var opts []string
		for _, o := range strings.Split(vm.Config[disk], ",") {
			if !strings.HasPrefix(o, "size=") {
				opts = append(opts, o)
			}
		}
		vm.Config[disk] = strings.Join(append(opts, "size="+humanSize(newSize)), ",")
		return ""
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
		return ""
	}), nil
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

func stopVM(s *Sim, p params) (any, *apiError)     { return s.stop(p, "qmstop") }
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
