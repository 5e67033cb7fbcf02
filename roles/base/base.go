// Package base renders what every host gets whatever its role: its
// firewall table, name resolution through the lab's dns hosts, and the
// extra compose apps homelab.yaml places on the host (run by the container
// resource).
package base

import (
	"fmt"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/roles"
)

// ResolvedPath is the systemd-resolved drop-in that points a host at the lab DNS.
const ResolvedPath = "/etc/systemd/resolved.conf.d/homelab.conf"

// Build returns the host-independent part of a host's desired state.
func Build(in roles.Input) *roles.Output {
	l := in.Lab
	out := &roles.Output{}
	out.Resources = append(out.Resources, roles.FirewallTable(in))
	var dns []string
	for _, h := range l.WithRole("dns") {
		dns = append(dns, h.IP.String())
	}
	if len(dns) > 0 {
		var b strings.Builder
		b.WriteString(roles.Header("#", "resolved.conf drop-in"))
		fmt.Fprintf(&b, "[Resolve]\nDNS=%s\nDomains=%s\n", strings.Join(dns, " "), l.Domain)
		f := &files.File{Path: ResolvedPath, Content: []byte(b.String()), Mode: 0o644}
		out.Resources = append(out.Resources, f)
		out.Hooks = append(out.Hooks, &resource.Hook{
			Name:  "reload-resolved",
			Watch: []string{f.ID()},
			// Hosts without systemd-resolved keep the drop-in for when it is installed.
			Commands: [][]string{{"sh", "-c", "! systemctl cat systemd-resolved.service >/dev/null 2>&1 || systemctl try-reload-or-restart systemd-resolved.service"}},
		})
	}
	projects := []string{in.Host.Role} // a container role's project is named after it
	for _, a := range l.AppsOn(in.Host.Name) {
		out.Resources = append(out.Resources, roles.AppContainers(l, a))
		projects = append(projects, a.Name)
	}
	if p := roles.RemovedProjects(in, projects); p != nil {
		out.Resources = append(out.Resources, p)
	}
	out.Memory = map[string]string{roles.ProjectsMemory: strings.Join(projects, ",")}
	return out
}
