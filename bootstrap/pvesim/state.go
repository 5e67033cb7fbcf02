package pvesim

import (
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

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
