//go:build e2e

package tailscale

import (
	"encoding/base64"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/packages"
)

// e2eRepo replaces Tailscale's repository and pinned key in the drill's
// agent build only (go build -tags e2e -ldflags "-X ...e2eRepo=URI|KEY",
// the key's armor base64-encoded): the drill serves a stand-in
// repository signed with a test key of its own, since no tailnet or
// pkgs.tailscale.com is reachable from its lab. A build without the e2e
// tag has no such variable: the pinned key cannot be replaced.
var e2eRepo string

func init() {
	uri, b64, ok := strings.Cut(e2eRepo, "|")
	if !ok {
		return
	}
	key, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || uri == "" {
		return // malformed: the pinned repository stays, and apt fails on the drill's test key
	}
	Repo.URIs, Repo.Key = uri, key
	Packages.Repos = []packages.Repo{Repo}
}
