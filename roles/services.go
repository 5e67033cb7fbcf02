package roles

import "github.com/homelab-agent/homelab-agent/agent/lab"

// Service is a web app published as <Subdomain>.<domain> through the
// traefik host, reaching Host's IP on Port.
type Service struct {
	Subdomain string
	Host      *lab.Host
	Port      int
	// Pos is where homelab.yaml names it (the host or app), for errors.
	Pos lab.Pos
}

// Exposer is implemented by roles that run a web app behind Traefik.
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
		r, ok := Lookup(h.Role)
		if !ok {
			continue
		}
		e, ok := r.(Exposer)
		if !ok {
			continue
		}
		s := Service{Host: h, Pos: h.Pos}
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
		out = append(out, s)
	}
	for _, a := range l.Apps {
		if a.Expose == nil {
			continue
		}
		h := l.Hosts.Get(a.Host)
		if h == nil {
			continue
		}
		s := Service{Subdomain: a.Name, Host: h, Port: 80, Pos: a.Expose.Pos}
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
