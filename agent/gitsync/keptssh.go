package gitsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"golang.org/x/crypto/ssh"
)

// keptSSH lists a repo's refs over one SSH connection kept between polls,
// as OpenSSH's ControlMaster does: go-git dials, handshakes and
// authenticates anew for every ref listing (120-200 ms on loopback), while
// a new session on a live connection is one round trip plus the server's
// git-upload-pack. A listing reads the ref advertisement and ends the
// session with a flush packet, so no object is ever transferred. Fetches
// still go through go-git.
//
// What a poll still costs is the server starting git-upload-pack (sshd's
// session process, the login shell, git-shell): 3-4 ms on an idle machine.
// Keeping one protocol v2 upload-pack and sending it an ls-refs per poll
// would avoid that, but git caches the refs for the life of the process:
// a push is never seen (tried; the push test fails).
type keptSSH struct {
	addr string
	cmd  string // git-upload-pack '<path>'
	cfg  func() (*ssh.ClientConfig, error)

	mu     sync.Mutex
	client *ssh.Client
	dials  int // connections made, for tests and metrics
}

// sshConfigurer is what go-git's SSH auth methods implement.
type sshConfigurer interface {
	ClientConfig() (*ssh.ClientConfig, error)
}

// newKeptSSH returns a lister for an SSH repo URL, or nil when the auth
// method cannot give an SSH client configuration.
func newKeptSSH(url string, auth transport.AuthMethod) (*keptSSH, error) {
	c, ok := auth.(sshConfigurer)
	if !ok {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(url)
	if err != nil {
		return nil, fmt.Errorf("parsing repo URL: %w", err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	return &keptSSH{
		addr: net.JoinHostPort(ep.Host, strconv.Itoa(port)),
		cmd:  "git-upload-pack " + shellQuote(ep.Path),
		cfg:  c.ClientConfig,
	}, nil
}

// shellQuote quotes s for the server's shell, as git does.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// listRefs returns the server's refs. A broken kept connection (the
// server restarted, the network dropped it) is redialled once.
func (k *keptSSH) listRefs(ctx context.Context) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; ; attempt++ {
		fresh := false
		if k.client == nil {
			if err := k.dial(ctx); err != nil {
				return nil, err
			}
			fresh = true
		}
		refs, err := k.advertisement(ctx)
		if err == nil {
			return refs, nil
		}
		k.closeLocked()
		if fresh || attempt > 0 || ctx.Err() != nil {
			return nil, err
		}
	}
}

func (k *keptSSH) dial(ctx context.Context) error {
	cfg, err := k.cfg()
	if err != nil {
		return err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", k.addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, k.addr, cfg)
	if !stop() {
		err = errors.Join(err, ctx.Err())
	}
	if err != nil {
		conn.Close()
		return err
	}
	k.client = ssh.NewClient(c, chans, reqs)
	k.dials++
	return nil
}

// advertisement runs git-upload-pack in a new session, reads the ref
// advertisement and hangs up with a flush packet (git's "no wants").
func (k *keptSSH) advertisement(ctx context.Context) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	sess, err := k.client.NewSession()
	if err != nil {
		return nil, err
	}
	defer sess.Close()
	stop := context.AfterFunc(ctx, func() { sess.Close() })
	defer stop()
	stdin, err := sess.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return nil, err
	}
	var stderr strings.Builder
	sess.Stderr = &limitWriter{w: &stderr, n: 4096}
	if err := sess.Start(k.cmd); err != nil {
		return nil, err
	}
	adv := packp.NewAdvRefs()
	if err := adv.Decode(stdout); err != nil {
		stdin.Close()
		sess.Wait() // the server's error output is complete after Wait
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return nil, fmt.Errorf("%w: %s", err, msg)
		}
		return nil, err
	}
	// A flush (no wants) ends git-upload-pack; the deferred Close ends
	// the session without waiting for the server's process to exit.
	io.WriteString(stdin, "0000")
	stdin.Close()
	refs := make(map[plumbing.ReferenceName]plumbing.Hash, len(adv.References))
	for name, h := range adv.References {
		refs[plumbing.ReferenceName(name)] = h
	}
	return refs, nil
}

func (k *keptSSH) closeLocked() {
	if k.client != nil {
		k.client.Close()
		k.client = nil
	}
}

// Close closes the kept SSH connection, if any; the next poll dials again.
func (s *Syncer) Close() error {
	if s.kept != nil {
		return s.kept.Close()
	}
	return nil
}

// Close closes the kept connection.
func (k *keptSSH) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closeLocked()
	return nil
}

// limitWriter keeps at most n bytes of a server's error output.
type limitWriter struct {
	w io.Writer
	n int
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		q := p
		if len(q) > l.n {
			q = q[:l.n]
		}
		l.n -= len(q)
		l.w.Write(q)
	}
	return len(p), nil
}
