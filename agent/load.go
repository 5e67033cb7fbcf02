package agent

import (
	"slices"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/role"
)

// LoadFor loads the lab repo in dir for one pass of host with opts: all
// of homelab.yaml is parsed and checked, but only host's compose projects
// are loaded, and none when the pass does not run the containers
// subsystem (`apply --only files` loads no compose file).
func LoadFor(dir, host string, opts Options) (*lab.Lab, error) {
	lo := role.LabOptions()
	lo.Scope = lab.Scope{Host: host, NoProjects: !slices.Contains(opts.subsystems(), "containers")}
	return lab.Load(dir, lo)
}
