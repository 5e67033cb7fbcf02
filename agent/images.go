package agent

import (
	"context"
	"fmt"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/agent/state"
)

// ImageOutcome is one service's image check or update.
type ImageOutcome struct {
	Project string
	docker.Outcome
}

// UsesImageUpdates reports whether the lab gives the host's compose
// projects an update policy (a lab-wide updates: block, the host's own,
// or one of its apps').
func UsesImageUpdates(l *lab.Lab, host string) bool {
	h := l.Hosts.Get(host)
	if h == nil {
		return false
	}
	if l.Updates != nil || h.Updates != nil {
		return true
	}
	for _, a := range l.AppsOn(host) {
		if a.Updates != nil {
			return true
		}
	}
	return false
}

// UpdateImages runs the image check of every compose project the host
// runs and, inside each service's window, its update (docker's
// Project.Update: one service at a time, backup first, health, rollback).
// The host's secrets must all be there, as for a pass.
func UpdateImages(ctx context.Context, l *lab.Lab, hostName string, opts Options, u *docker.Updater) ([]ImageOutcome, error) {
	if !UsesImageUpdates(l, hostName) {
		return nil, nil
	}
	root := opts.root()
	store, err := opts.hostSecrets(l, hostName)
	if err != nil {
		return nil, err
	}
	st, err := state.Load(root)
	if err != nil {
		return nil, err
	}
	_, out, err := Desired(l, hostName, st.Memory, opts.now())
	if err != nil {
		return nil, err
	}
	if missing := store.Missing(SecretsOf(out)); len(missing) > 0 {
		return nil, &secrets.MissingError{Names: missing}
	}
	env := &resource.Env{Root: root, Secrets: store, ManageOwner: opts.manageOwner(), Log: opts.logger()}
	var res []ImageOutcome
	for _, r := range out.Resources {
		p, ok := r.(*docker.Project)
		if !ok {
			continue
		}
		outs, err := p.Update(ctx, env, u)
		for _, o := range outs {
			res = append(res, ImageOutcome{Project: p.Name, Outcome: o})
		}
		if err != nil {
			return res, fmt.Errorf("%s: %s", p.ID(), store.Redact(err.Error()))
		}
	}
	return res, nil
}
