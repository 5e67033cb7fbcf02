// Command homelab-agent converges a VM of a homelab to its role from a
// git-managed lab repo, bootstraps the lab on Proxmox and restores data.
package main

import (
	"os"

	_ "github.com/homelab-agent/homelab-agent/roles/all"
)

func main() { os.Exit(execute(os.Args[1:])) }
