package agent

import (
	"slices"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
)

// Rotatable lists the secrets the agent owns in this lab, sorted: those
// some host's desired state can change where the credential lives (a
// *rotate.Credential among its resources), so `secrets rotate` may
// generate them.
func Rotatable(l *lab.Lab) []string {
	var out []string
	for _, h := range l.Hosts {
		_, d, err := Desired(l, h.Name, nil, time.Now())
		if err != nil {
			continue
		}
		for _, r := range d.Resources {
			if c, ok := r.(*rotate.Credential); ok && !slices.Contains(out, c.Secret) {
				out = append(out, c.Secret)
			}
		}
	}
	slices.Sort(out)
	return out
}
