package health

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"

	"github.com/miekg/dns"
)

// HTTP is an HTTP(S) GET that must answer with Want (any 2xx when 0).
// With Connect set, the connection goes to that address whatever the
// URL's host (a service name through the proxy); with ServerName, the
// TLS certificate served must name it (the chain is not checked: a
// staging or not-yet-renewed certificate still answers).
type HTTP struct {
	Name       string
	URL        string
	Connect    string
	ServerName string
	Want       int
	// Below, when set (and Want is not), accepts any status under it: a
	// routed app may redirect to its login page.
	Below int
}

func (p HTTP) String() string {
	if p.Name != "" {
		return p.Name
	}
	return "GET " + p.URL
}

// Check implements Probe.
func (p HTTP) Check(ctx context.Context) error {
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	if p.Connect != "" {
		d := &net.Dialer{}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, p.Connect)
		}
	}
	if p.ServerName != "" {
		name := p.ServerName
		tr.TLSClientConfig = &tls.Config{ServerName: name, InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				if len(cs.PeerCertificates) == 0 {
					return fmt.Errorf("no certificate served")
				}
				if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
					return fmt.Errorf("the served certificate does not name %s: %w", name, err)
				}
				return nil
			}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.URL, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	ok := resp.StatusCode >= 200 && resp.StatusCode < 300
	switch {
	case p.Want != 0:
		ok = resp.StatusCode == p.Want
	case p.Below != 0:
		ok = resp.StatusCode < p.Below
	}
	if !ok {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// DNS asks Server (host:port) for Name's A record, which must be Want.
type DNS struct {
	Server string
	Name   string
	Want   netip.Addr
}

func (p DNS) String() string { return fmt.Sprintf("dns %s A at %s", p.Name, p.Server) }

// Check implements Probe.
func (p DNS) Check(ctx context.Context) error {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(p.Name), dns.TypeA)
	c := &dns.Client{Net: "udp"}
	r, _, err := c.ExchangeContext(ctx, m, p.Server)
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess {
		return fmt.Errorf("answer %s", dns.RcodeToString[r.Rcode])
	}
	var got []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			if ip, ok := netip.AddrFromSlice(a.A.To4()); ok && ip == p.Want {
				return nil
			}
			got = append(got, a.A.String())
		}
	}
	return fmt.Errorf("answered %v, want %s", got, p.Want)
}

// Command runs Argv, which must exit 0; Verify, when set, checks its
// standard output.
type Command struct {
	Name   string
	Argv   []string
	Verify func(out []byte) error
}

func (p Command) String() string {
	if p.Name != "" {
		return p.Name
	}
	return strings.Join(p.Argv, " ")
}

// Check implements Probe.
func (p Command) Check(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, p.Argv[0], p.Argv[1:]...)
	out, err := cmd.Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			return fmt.Errorf("%w: %s", err, oneLine(string(ee.Stderr)))
		}
		return err
	}
	if p.Verify != nil {
		return p.Verify(out)
	}
	return nil
}

// Func adapts a function (a primitive's own check, such as a compose
// project's containers being healthy) to a Probe.
type Func struct {
	Name string
	F    func(ctx context.Context) error
}

func (p Func) String() string                  { return p.Name }
func (p Func) Check(ctx context.Context) error { return p.F(ctx) }
