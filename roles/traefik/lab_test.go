package traefik_test

import (
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

type rolesLab struct {
	lab  *lab.Lab
	host string
	now  time.Time
}

func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}
