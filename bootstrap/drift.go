package bootstrap

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// Drift is a VM setting that differs from homelab.yaml.
type Drift struct {
	Host string `json:"host"`
	VMID int    `json:"vmid"`
	Key  string `json:"key"`
	Want string `json:"want"`
	Got  string `json:"got"`
	// Live drift can be fixed on the running VM (with --yes); the rest
	// needs a restart or a replacement (--replace HOST).
	Live bool `json:"live"`
}

// detachedData is the volume of a data disk that was detached from scsi1
// and sits in the config as the VM's only unusedN entry, or "".
func detachedData(lv *LiveVM) string {
	var found []string
	for k, v := range lv.Config {
		if strings.HasPrefix(k, "unused") {
			found = append(found, v)
		}
	}
	if len(found) != 1 {
		return ""
	}
	return found[0]
}

// wantNet is net0 as wanted, keeping the VM's MAC address.
func wantNet(s Settings, cur string) string {
	got := propString(cur, "model")
	if mac := got["macaddr"]; mac != "" {
		return "virtio=" + mac + ",bridge=" + s.Bridge
	}
	return "virtio,bridge=" + s.Bridge
}

// liveKeys are settings Proxmox applies to a running VM (hotplug).
var liveKeys = map[string]bool{"name": true, "onboot": true, "net0": true, "scsi0": true, "scsi1": true}

// diff lists the VM's settings that differ from homelab.yaml.
func diff(s Settings, v *VMSpec, lv *LiveVM) []Drift {
	var out []Drift
	add := func(key, want, got string) {
		out = append(out, Drift{Host: v.Host, VMID: v.VMID, Key: key, Want: want, Got: got, Live: liveKeys[key]})
	}
	if lv.Node != v.Node {
		add("node", v.Node, lv.Node)
	}
	want := v.settings(s)
	for _, k := range sortedKeys(want) {
		w, g := want[k], lv.Config[k]
		if !sameSetting(k, w, g) {
			if k == "sshkeys" {
				w, g = fmt.Sprintf("%d keys", len(s.SSHKeys)), fmt.Sprintf("%d keys", len(decodeSSHKeys(g)))
			}
			add(k, w, or(g, "(unset)"))
		}
	}
	if lv.Config["sshkeys"] != "" && len(s.SSHKeys) == 0 {
		add("sshkeys", "(unset)", "set")
	}
	gotNet := propString(lv.Config["net0"], "model")
	if gotNet["model"] != "virtio" || gotNet["bridge"] != s.Bridge {
		add("net0", "virtio,bridge="+s.Bridge, or(lv.Config["net0"], "(unset)"))
	}
	for _, d := range []struct{ key, size string }{{"scsi0", v.Disk}, {"scsi1", v.Data}} {
		cur := lv.Config[d.key]
		if cur == "" && d.key == "scsi1" {
			if vol := detachedData(lv); vol != "" {
				out = append(out, Drift{Host: v.Host, VMID: v.VMID, Key: "scsi1", Want: "re-attach " + vol, Got: "detached", Live: true})
				continue
			}
		}
		if cur == "" {
			add(d.key, d.size, "(no disk)")
			continue
		}
		got, _ := bytesOf(propString(cur, "file")["size"])
		w, _ := bytesOf(d.size)
		if got < w {
			add(d.key, "size="+d.size, "size="+propString(cur, "file")["size"])
		}
	}
	return out
}

// sameSetting compares a wanted setting with the config's value the way
// Proxmox normalises them (memory's and agent's default keys, encoded
// keys, property-string order).
func sameSetting(key, want, got string) bool {
	switch key {
	case "memory":
		return propString(got, "current")["current"] == want
	case "agent":
		g := propString(got, "enabled")["enabled"]
		return g == "1"
	case "sshkeys":
		return slices.Equal(decodeSSHKeys(want), decodeSSHKeys(got))
	case "ipconfig0", "cicustom", "boot":
		a, b := propString(want, "_"), propString(got, "_")
		if len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if b[k] != v {
				return false
			}
		}
		return true
	case "tags":
		return slices.Contains(strings.FieldsFunc(got, tagSep), want)
	case "onboot":
		return got == "1"
	}
	return want == got
}

// repairStep starts a stopped VM and, with yes, fixes live drift.
func repairStep(s Settings, v *VMSpec, lv *LiveVM, drift []Drift, yes bool) *Step {
	var acts []Action
	var what []string
	if yes {
		set := map[string]string{}
		for _, d := range drift {
			if !d.Live {
				continue
			}
			switch d.Key {
			case "name", "onboot":
				set[d.Key] = v.settings(s)[d.Key]
			case "net0":
				set["net0"] = wantNet(s, lv.Config["net0"])
			case "scsi0", "scsi1":
				if vol, ok := strings.CutPrefix(d.Want, "re-attach "); ok {
					set["scsi1"] = vol + ",iothread=1,discard=on"
					break
				}
				if lv.Config[d.Key] == "" {
					continue
				}
				size := v.Disk
				if d.Key == "scsi1" {
					size = v.Data
				}
				acts = append(acts, Action{Call: &Call{Method: http.MethodPut, Path: vmPath(lv.Node, v.VMID, "/resize"),
					Params: map[string]string{"disk": d.Key, "size": size}, Task: true}})
			}
			what = append(what, d.Key)
		}
		if len(set) > 0 {
			acts = append([]Action{{Call: &Call{Method: http.MethodPut, Path: vmPath(lv.Node, v.VMID, "/config"), Params: set}}}, acts...)
		}
	}
	if lv.Status != "running" {
		acts = append(acts,
			Action{Call: &Call{Method: http.MethodPost, Path: vmPath(lv.Node, v.VMID, "/status/start"), Params: map[string]string{}, Task: true}},
			Action{WaitAgent: true, Node: lv.Node, VMID: v.VMID})
		what = append(what, "start (it is "+lv.Status+")")
	}
	if len(acts) == 0 {
		return nil
	}
	return &Step{Kind: "update", Host: v.Host, Summary: fmt.Sprintf("update %s (VM %d): %s", v.Host, v.VMID, strings.Join(what, ", ")), Actions: acts}
}
