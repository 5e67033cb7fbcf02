package role

import "github.com/homelab-agent/homelab-agent/agent/lab"

// Service is a web app published as <Subdomain>.<domain> through the
// lab's reverse proxy, reaching Host's IP on Port.
type Service struct {
	Subdomain string
	Host      *lab.Host
	Port      int
	// Pos is where homelab.yaml names it (the host or app), for errors.
	Pos lab.Pos
	// Name names what listens (the role or the app), for firewall comments.
	Name string
}

// Exposer is implemented by roles that run a web app behind the reverse
// proxy. The host's table admits the app's port from the proxy, the proxy
// routes <subdomain>.<domain> to it, and the lab's zone names it.
type Exposer interface {
	// DefaultExpose is the subdomain and port the role's app uses unless
	// the host's expose: says otherwise.
	DefaultExpose() (subdomain string, port int)
}

// Services lists every published service of the lab: one per host whose
// role is an Exposer, then one per app with an expose: block.
func Services(l *lab.Lab) []Service {
	var out []Service
	for _, h := range l.Hosts {
		if s, ok := hostService(h); ok {
			out = append(out, s)
		}
	}
	for _, a := range l.Apps {
		if a.Expose == nil {
			continue
		}
		h := l.Hosts.Get(a.Host)
		if h == nil {
			continue
		}
		s := Service{Subdomain: a.Name, Host: h, Port: 80, Pos: a.Expose.Pos, Name: "app " + a.Name}
		if a.Expose.Subdomain != "" {
			s.Subdomain = a.Expose.Subdomain
		}
		if a.Expose.Port != 0 {
			s.Port = a.Expose.Port
		}
		out = append(out, s)
	}
	return out
}

// hostService is the service of a host whose role is an Exposer.
func hostService(h *lab.Host) (Service, bool) {
	r, ok := Lookup(h.Role)
	if !ok {
		return Service{}, false
	}
	e, ok := r.(Exposer)
	if !ok {
		return Service{}, false
	}
	s := Service{Host: h, Pos: h.Pos, Name: h.Role}
	s.Subdomain, s.Port = e.DefaultExpose()
	if x := h.Expose; x != nil {
		s.Pos = x.Pos
		if x.Subdomain != "" {
			s.Subdomain = x.Subdomain
		}
		if x.Port != 0 {
			s.Port = x.Port
		}
	}
	return s, true
}

// PublicHost is the name a host's own service is published under
// (<subdomain>.<domain>) and the port it listens on, or "" when the
// host's role publishes nothing.
func PublicHost(in Input) (host string, port int) {
	s, ok := hostService(in.Host)
	if !ok {
		return "", 0
	}
	return s.Subdomain + "." + in.Lab.Domain, s.Port
}
