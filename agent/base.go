package agent

import (
	"fmt"
	"slices"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/fleet"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// ResolvedPath is the systemd-resolved drop-in that points a host at the
// lab's name servers.
const ResolvedPath = "/etc/systemd/resolved.conf.d/homelab.conf"

// ProjectsMemory is the memory key under which a host remembers the
// compose projects its last pass ran.
const ProjectsMemory = "containers.projects"

// base returns what every host gets whatever its role: its firewall
// table, name resolution through the hosts playing role.NameServer, its
// unattended upgrades (os.updates), and
// the extra compose apps homelab.yaml places on the host.
func base(in role.Input) *role.Output {
	l := in.Lab
	out := &role.Output{}
	out.Resources = append(out.Resources, FirewallTable(in))
	var dns []string
	for _, h := range role.HostsPlaying(l, role.NameServer) {
		dns = append(dns, h.IP.String())
	}
	if len(dns) > 0 {
		var b strings.Builder
		b.WriteString(files.Header("#", "resolved.conf drop-in"))
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
	if l.OS != nil {
		needs, f := packages.Updates(l.OS.Updates)
		out.Packages.Add(needs)
		if f != nil {
			out.Resources = append(out.Resources, f)
		}
	}
	for _, a := range l.AppsOn(in.Host.Name) {
		out.Resources = append(out.Resources, docker.AppProject(l.Dir, a))
	}
	if l.UsesWaves() {
		// Agents read each other's state to hold a commit at a wave.
		out.Secrets = append(out.Secrets, fleet.SecretName)
	}
	return out
}

// projects returns the names of the compose projects among rs, in order.
func projects(rs []resource.Resource) []string {
	var out []string
	for _, r := range rs {
		if p, ok := r.(*docker.Project); ok && !slices.Contains(out, p.Name) {
			out = append(out, p.Name)
		}
	}
	return out
}

// removedProjects returns the resource that removes the containers of
// projects the host ran on its last pass but no longer runs (an app taken
// out of homelab.yaml, a former role), or nil when there are none. A pass
// with nothing removed costs no engine call.
func removedProjects(memory map[string]string, now []string) *docker.Prune {
	var gone []string
	for _, p := range strings.Split(memory[ProjectsMemory], ",") {
		if p != "" && !slices.Contains(now, p) {
			gone = append(gone, p)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	return &docker.Prune{Projects: gone}
}
