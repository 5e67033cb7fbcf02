package lab

// Scope limits the checks that read more than homelab.yaml, the compose
// projects of roles and apps, to what one pass needs. homelab.yaml itself
// is always parsed and checked whole: a pass of one host refuses a lab
// with any error in it, but need not load another host's compose files
// (compose-go's schema check costs tens of milliseconds), nor any when it
// runs no containers. The zero Scope checks every project (`validate`).
type Scope struct {
	// Host, when set, is the one host whose projects are loaded.
	Host string
	// NoProjects skips loading projects altogether (a pass without the
	// containers subsystem).
	NoProjects bool
}

// ChecksProjectsOf reports whether a lab check should load the compose
// projects of host.
func (l *Lab) ChecksProjectsOf(host string) bool {
	if l.Scope.NoProjects {
		return false
	}
	return l.Scope.Host == "" || l.Scope.Host == host
}
