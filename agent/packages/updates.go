package packages

import (
	"github.com/homelab-agent/homelab-agent/agent/files"
)

// UpdatesConf is the apt configuration the agent renders for os.updates.
// It sorts after Debian's own 20auto-upgrades and 50unattended-upgrades
// (a conffile of the unattended-upgrades package, left alone), so its
// settings win.
const UpdatesConf = "/etc/apt/apt.conf.d/52homelab-unattended-upgrades"

// Updates returns what os.updates asks for: "security" installs
// unattended-upgrades and limits it to Debian's security archive, run
// daily by apt's timers; "none" turns unattended upgrades off (the
// package, if any, stays). Any other value (unset) asks for nothing.
func Updates(mode string) (Needs, *files.File) {
	var body string
	var needs Needs
	switch mode {
	case "security":
		needs.Packages = []Package{{Name: "unattended-upgrades", Why: "os.updates: security"}}
		body = `APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
APT::Periodic::AutocleanInterval "7";
// Security fixes only: point releases and the third-party repositories
// (Tailscale's) change when the lab repo says so.
#clear Unattended-Upgrade::Origins-Pattern;
Unattended-Upgrade::Origins-Pattern {
	"origin=Debian,codename=${distro_codename}-security,label=Debian-Security";
	"origin=Debian,codename=${distro_codename},label=Debian-Security";
};
Unattended-Upgrade::Automatic-Reboot "false";
`
	case "none":
		body = `APT::Periodic::Unattended-Upgrade "0";
`
	default:
		return Needs{}, nil
	}
	return needs, &files.File{Path: UpdatesConf, Content: []byte(files.Header("//", "unattended upgrades (os.updates: "+mode+")") + body), Mode: 0o644}
}
