package bootstrap

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Live is what the cluster holds now, as far as the plan cares.
type Live struct {
	// VMs by VMID (every VM of the cluster; Config only for the lab's).
	VMs map[int]*LiveVM
	// Storage is the image storage's definition.
	Storage StorageInfo
	// Volumes maps node -> volume IDs in the image storage.
	Volumes map[string]map[string]bool
	// Offline marks an assumed empty node (no API was asked).
	Offline bool
}

// LiveVM is one VM of the cluster.
type LiveVM struct {
	VMID         int
	Type         string // qemu or lxc
	Node, Status string
	Name         string
	Config       map[string]string
}

// StorageInfo is a storage definition.
type StorageInfo struct {
	ID, Type, Path string
	Content        []string
	Shared         bool
}

// OfflineLive is an empty node: no VMs, and an image storage as a fresh
// Proxmox install has it ("local", /var/lib/vz, iso,vztmpl,backup).
func OfflineLive(s Settings) *Live {
	return &Live{
		VMs:     map[int]*LiveVM{},
		Storage: StorageInfo{ID: s.ImageStorage, Type: "dir", Path: "/var/lib/vz", Content: []string{"iso", "vztmpl", "backup"}},
		Volumes: map[string]map[string]bool{},
		Offline: true,
	}
}

// Observe reads the cluster: its VMs, the lab VMs' configs, the image
// storage and its content on the lab's nodes.
func Observe(ctx context.Context, c *Client, s Settings, specs []*VMSpec) (*Live, error) {
	live := &Live{VMs: map[int]*LiveVM{}, Volumes: map[string]map[string]bool{}}
	var res []struct {
		VMID   int    `json:"vmid"`
		Node   string `json:"node"`
		Status string `json:"status"`
		Name   string `json:"name"`
		Type   string `json:"type"`
	}
	if err := c.Do(ctx, http.MethodGet, "/cluster/resources", url.Values{"type": {"vm"}}, &res); err != nil {
		return nil, fmt.Errorf("listing VMs: %w", err)
	}
	for _, r := range res {
		if r.Type == "qemu" || r.Type == "lxc" {
			live.VMs[r.VMID] = &LiveVM{VMID: r.VMID, Type: r.Type, Node: r.Node, Status: r.Status, Name: r.Name}
		}
	}
	nodes := map[string]bool{}
	for _, v := range specs {
		nodes[v.Node] = true
		lv := live.VMs[v.VMID]
		if lv == nil {
			continue
		}
		if lv.Type == "qemu" && lv.Config == nil {
			cfg, err := vmConfig(ctx, c, lv.Node, v.VMID)
			if err != nil {
				return nil, err
			}
			lv.Config = cfg
		}
	}
	var st map[string]any
	if err := c.Do(ctx, http.MethodGet, "/storage/"+s.ImageStorage, nil, &st); err != nil {
		return nil, fmt.Errorf("reading storage %s: %w", s.ImageStorage, err)
	}
	live.Storage = StorageInfo{ID: s.ImageStorage, Type: str(st["type"]), Path: str(st["path"]),
		Content: strings.Split(str(st["content"]), ","), Shared: str(st["shared"]) == "1"}
	for _, n := range sortedKeys(nodes) {
		var content []struct {
			VolID string `json:"volid"`
		}
		if err := c.Do(ctx, http.MethodGet, "/nodes/"+n+"/storage/"+s.ImageStorage+"/content", nil, &content); err != nil {
			return nil, fmt.Errorf("listing storage %s on node %s: %w", s.ImageStorage, n, err)
		}
		live.Volumes[n] = map[string]bool{}
		for _, e := range content {
			live.Volumes[n][e.VolID] = true
		}
	}
	return live, nil
}

func vmConfig(ctx context.Context, c *Client, node string, vmid int) (map[string]string, error) {
	var raw map[string]any
	if err := c.Do(ctx, http.MethodGet, fmt.Sprintf("/nodes/%s/qemu/%d/config", node, vmid), nil, &raw); err != nil {
		return nil, fmt.Errorf("reading VM %d's config: %w", vmid, err)
	}
	cfg := map[string]string{}
	for k, v := range raw {
		cfg[k] = str(v)
	}
	return cfg, nil
}

// str renders a JSON value as Proxmox writes it in a config (1, not 1.0).
func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		if x {
			return "1"
		}
		return "0"
	case json.Number:
		return x.String()
	}
	return fmt.Sprint(v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// propString splits a property string into its keys; the value without a
// key goes under def. For net0, "virtio=MAC" becomes model and macaddr.
func propString(s, def string) map[string]string {
	out := map[string]string{}
	for i, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(part, "=")
		switch {
		case !ok:
			out[def] = part
		case i == 0 && def == "model" && macRe.MatchString(v):
			out["model"], out["macaddr"] = k, v
		default:
			out[k] = v
		}
	}
	return out
}
