package bootstrap

import (
	"context"
	"filippo.io/age"
	"fmt"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Options are one bootstrap run's inputs besides the lab.
type Options struct {
	// Override wins over the lab's bootstrap: section.
	Override Settings
	// Client talks to the API; nil plans offline against an empty node.
	Client *Client
	// Master is the lab's master key: each guest gets its identity derived
	// from it, and the admin file's repo credentials and webhook secret.
	Master *age.X25519Identity
	PlanOptions
}

// PlanLab reads the cluster (unless offline) and plans the lab.
func PlanLab(ctx context.Context, l *lab.Lab, o Options) (*Plan, error) {
	s := SettingsFor(l, o.Override)
	specs, skipped, err := Specs(l, s)
	if err != nil {
		return nil, err
	}
	if err := withSecrets(l, specs, o.Master); err != nil {
		return nil, err
	}
	var live *Live
	if o.Client == nil {
		live = OfflineLive(s)
	} else if live, err = Observe(ctx, o.Client, s, specs); err != nil {
		return nil, fmt.Errorf("reading the cluster: %w", err)
	}
	p, err := MakePlan(s, specs, live, o.PlanOptions)
	if err != nil {
		return nil, err
	}
	p.Skipped = skipped
	return p, nil
}
