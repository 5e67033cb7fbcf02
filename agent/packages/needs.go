package packages

import "slices"

// Needs is what a host must have from its package manager: packages (with
// a minimum version where it matters), the third-party repositories they
// come from, and the systemd units to enable. Roles declare theirs in
// role.Output; resources that need a program declare it with Needer.
type Needs struct {
	Packages []Package
	Repos    []Repo
	// Enable lists systemd units to enable and start (docker.service ...).
	Enable []string
}

// Needer is implemented by resources that need packages on the host (a
// compose project needs the Docker Engine, a backup schedule restic).
type Needer interface {
	PackageNeeds() Needs
}

// Add merges o into n: one entry per package (the highest minimum
// version wins), per repository name and per unit.
func (n *Needs) Add(o Needs) {
	for _, p := range o.Packages {
		n.Packages = Merge(n.Packages, p)
	}
	for _, r := range o.Repos {
		if !slices.ContainsFunc(n.Repos, func(x Repo) bool { return x.Name == r.Name }) {
			n.Repos = append(n.Repos, r)
		}
	}
	for _, u := range o.Enable {
		if !slices.Contains(n.Enable, u) {
			n.Enable = append(n.Enable, u)
		}
	}
}

// Empty reports whether nothing is needed.
func (n Needs) Empty() bool {
	return len(n.Packages) == 0 && len(n.Repos) == 0 && len(n.Enable) == 0
}

// Resource returns the host's packages resource for n, or nil when
// nothing is needed.
func (n Needs) Resource() *Apt {
	if n.Empty() {
		return nil
	}
	return &Apt{Packages: slices.Clone(n.Packages), Repos: slices.Clone(n.Repos), Enable: slices.Clone(n.Enable)}
}
