package tailscale

import (
	_ "embed"

	"github.com/homelab-agent/homelab-agent/agent/packages"
)

// archiveKey is Tailscale's package repository signing key, pinned here
// (RSA 4096, fingerprint KeyFingerprint): the agent never fetches a key
// or runs an install script.
//
//go:embed tailscale-archive-keyring.asc
var archiveKey []byte

// KeyFingerprint is the fingerprint of the pinned key, "Tailscale Inc.
// (Package repository signing key) <info@tailscale.com>".
const KeyFingerprint = "2596A99EAAB33821893C0A79458CA832957F5868"

// Repo is Tailscale's stable apt repository for Debian 13 (trixie, the
// guests' release), trusted only for what the pinned key signs
// (Signed-By).
var Repo = packages.Repo{
	Name:       "tailscale",
	URIs:       "https://pkgs.tailscale.com/stable/debian",
	Suites:     "trixie",
	Components: "main",
	Key:        archiveKey,
}

// Packages is what the role needs installed: tailscale from Tailscale's
// own repository (Debian has no package of it), with tailscaled enabled.
var Packages = packages.Needs{
	Packages: []packages.Package{{Name: "tailscale", Why: "role tailscale-router"}},
	Repos:    []packages.Repo{Repo},
	Enable:   []string{"tailscaled.service"},
}
