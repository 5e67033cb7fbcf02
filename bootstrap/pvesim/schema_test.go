package pvesim

import (
	"net/url"
	"strings"
	"testing"
)

func TestSchemaIndexesPaths(t *testing.T) {
	s := TestingSchema(t)
	if len(s.Methods) < 600 {
		t.Fatalf("only %d methods indexed", len(s.Methods))
	}
	tmpl, vars, ok := s.Match("/nodes/pve/qemu/102/config")
	if !ok || tmpl != "/nodes/{node}/qemu/{vmid}/config" || vars["node"] != "pve" || vars["vmid"] != "102" {
		t.Fatalf("Match = %q %v %v", tmpl, vars, ok)
	}
	if _, _, err := s.Lookup("PATCH", "/nodes/pve/qemu"); err == nil {
		t.Fatal("PATCH /nodes/pve/qemu was accepted")
	}
}

func TestSchemaRejectsBadRequests(t *testing.T) {
	s := TestingSchema(t)
	create := s.Methods["POST /nodes/{node}/qemu"]
	vars := map[string]string{"node": "pve"}
	good := url.Values{
		"vmid": {"102"}, "name": {"dns1"}, "cores": {"1"}, "memory": {"1024"}, "scsihw": {"virtio-scsi-single"},
		"scsi0":     {"local-lvm:0,import-from=local:import/debian-13-genericcloud-amd64.qcow2,iothread=1,discard=on"},
		"scsi1":     {"local-lvm:2,iothread=1,discard=on"},
		"ide2":      {"local-lvm:cloudinit"},
		"net0":      {"virtio,bridge=vmbr1"},
		"ipconfig0": {"ip=192.168.100.2/24,gw=192.168.100.1"},
		"agent":     {"enabled=1"},
		"onboot":    {"1"},
		"sshkeys":   {"ssh-ed25519%20AAAAC3Nza%2B%2Fx%20me%40laptop"},
		"cicustom":  {"vendor=local:snippets/homelab-dns1.yaml"},
		"boot":      {"order=scsi0"},
		"tags":      {"homelab"},
	}
	if errs := create.Validate(vars, good); errs != nil {
		t.Fatalf("a good create was rejected: %v", errs)
	}
	for _, c := range []struct{ key, value, want string }{
		{"cores", "two", "type check ('integer') failed"},
		{"onboot", "maybe", "type check ('boolean') failed"},
		{"scsihw", "virtio-scsi", "does not have a value in the enumeration"},
		{"vmid", "99", "minimum value of 100"},
		{"net0", "virtio,bridge=vmbr1,speed=10", "speed: property is not defined"},
		{"net0", "bogus,bridge=vmbr1", "model: value 'bogus' does not have a value"},
		{"net0", "bridge=vmbr1", "model: property is missing"},
		{"net0", "virtio,bridge=vmbr1,tag=5000", "tag: value must have a maximum value of 4094"},
		{"scsi0", "local-lvm:8,iothread=maybe", "iothread: type check ('boolean') failed"},
		{"scsi1", "local-lvm:2,cache=fast", "cache: value 'fast' does not have a value"},
		{"ipconfig0", "ip=192.168.100.2,gw=192.168.100.1", "ip: invalid format - value does not look like a valid IP address with prefix"},
		{"ipconfig0", "gw=192.168.100.1", "gateway specified without"},
		{"agent", "enabled=yes,type=pci", "type: value 'pci'"},
		{"sshkeys", "ssh-ed25519 AAAA me@laptop", "invalid urlencoded string"},
		{"cicustom", "vendor=snippets/x.yaml", "unable to parse volume ID"},
		{"description", strings.Repeat("x", 9000), "may only be 8192 characters"},
		{"frobnicate", "1", "not defined in schema"},
	} {
		bad := url.Values{}
		for k, v := range good {
			bad[k] = v
		}
		bad.Set(c.key, c.value)
		errs := create.Validate(vars, bad)
		if !strings.Contains(errs[c.key], c.want) {
			t.Errorf("%s=%.40q: errors %v, want %q", c.key, c.value, errs, c.want)
		}
	}
	missing := url.Values{"name": {"x"}}
	if errs := create.Validate(vars, missing); !strings.Contains(errs["vmid"], "property is missing") {
		t.Errorf("missing vmid: %v", errs)
	}
	dl := s.Methods["POST /nodes/{node}/storage/{storage}/download-url"]
	if errs := dl.Validate(map[string]string{"node": "pve", "storage": "local"}, url.Values{
		"content": {"import"}, "filename": {"x.qcow2"}, "url": {"https://example.org/x.qcow2"}, "checksum": {"ab"},
	}); !strings.Contains(errs["checksum-algorithm"], "requires") {
		t.Errorf("checksum without algorithm: %v", errs)
	}
}
