package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/daemon"
	"github.com/homelab-agent/homelab-agent/agent/fleet"
	"github.com/homelab-agent/homelab-agent/agent/gitsync"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// fleetStatus is `status --fleet`: every host of the lab, asked directly.
func fleetStatus(c *cobra.Command, cfg *daemon.Config, repo string, overrides []string, asJSON bool) error {
	if repo == "" {
		repo = filepath.Join(cfg.Root, gitsync.Dir)
	}
	l, err := agent.LoadLab(repo)
	if err != nil {
		return labOrUsage(c, err)
	}
	store, err := secrets.Load(cfg.Root, os.Environ())
	if err != nil {
		return err
	}
	key, ok := store.Lookup(fleet.SecretName)
	if !ok || key == "" {
		return fmt.Errorf("the secret %s is not set here (secrets.env or %s%s)", fleet.SecretName, secrets.EnvPrefix, fleet.SecretName)
	}
	addrs := map[string]string{}
	for _, o := range overrides {
		h, a, ok := strings.Cut(o, "=")
		if !ok || l.Hosts.Get(h) == nil {
			return usageError{fmt.Errorf("--peer %q: want HOST=ADDR with a host of the lab", o)}
		}
		addrs[h] = a
	}
	_, port, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		port = "9123"
	}
	var peers []fleet.Peer
	for _, h := range l.Hosts {
		a := addrs[h.Name]
		if a == "" {
			a = net.JoinHostPort(h.IP.String(), port)
		}
		peers = append(peers, fleet.Peer{Host: h.Name, Role: h.Role, Wave: h.Wave, Addr: a})
	}
	now := time.Now()
	rows := fleet.Gather(c.Context(), peers, []byte(key), now)
	out := c.OutOrStdout()
	wrong := false
	for _, r := range rows {
		if len(r.Problems()) > 0 {
			wrong = true
		}
	}
	if asJSON {
		e := json.NewEncoder(out)
		e.SetIndent("", "  ")
		if err := e.Encode(rows); err != nil {
			return err
		}
	} else {
		fleet.WriteTable(out, rows, now)
	}
	if wrong {
		return silentError
	}
	return nil
}
