package agent

import (
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// NeededSecrets returns, per host of the lab, the secrets its desired
// state needs (what validate lists): the recipients of each secret in the
// lab repo's encrypted files.
func NeededSecrets(l *lab.Lab, now time.Time) (map[string][]string, error) {
	out := map[string][]string{}
	for _, h := range l.Hosts {
		_, d, err := Desired(l, h.Name, nil, now)
		if err != nil {
			return nil, err
		}
		out[h.Name] = SecretsOf(d)
	}
	return out, nil
}
