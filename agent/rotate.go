package agent

import "github.com/homelab-agent/homelab-agent/agent/lab"

// Rotatable lists the secrets the agent owns in this lab: those it can
// change where the credential lives, so `secrets rotate` may generate them.
func Rotatable(l *lab.Lab) []string { return nil }
