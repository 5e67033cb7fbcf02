package docker

import "github.com/homelab-agent/homelab-agent/agent/packages"

// EnginePackage is the Docker Engine from Debian's own archive. The agent
// converges compose files itself, so no compose CLI is installed.
var EnginePackage = packages.Package{Name: "docker.io", Why: "compose projects"}

// EngineUnit is the Engine's systemd unit.
const EngineUnit = "docker.service"

var _ packages.Needer = (*Project)(nil)

// PackageNeeds implements packages.Needer: a host that runs a compose
// project needs the Docker Engine, enabled.
func (p *Project) PackageNeeds() packages.Needs {
	pkg := EnginePackage
	pkg.Why = "containers of " + p.Name
	return packages.Needs{Packages: []packages.Package{pkg}, Enable: []string{EngineUnit}}
}
