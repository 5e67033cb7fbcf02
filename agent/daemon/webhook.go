package daemon

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Webhook limits. A push event's payload is a few kilobytes; GitHub's cap
// (25 MB) is for repos with huge pushes, whose head the agent reads from
// git anyway, so a cut body only loses the ref filter.
const (
	maxHookBody = 1 << 20
	// maxHookConcurrent bounds webhook requests in flight; more get 503.
	maxHookConcurrent = 4
	// replayWindow is how long a delivery id is remembered.
	replayWindow = time.Hour
	// maxDeliveries bounds the remembered ids (oldest forgotten first).
	maxDeliveries = 10000
)

// Server timeouts: a client that trickles headers or a body, or keeps an
// idle connection, is dropped.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// newServer is the daemon's HTTP server with its timeouts.
func newServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, ReadTimeout: readTimeout,
		WriteTimeout: writeTimeout, IdleTimeout: idleTimeout, MaxHeaderBytes: maxHeaderBytes}
}

// hookGuard holds the webhook's shared state: the requests in flight and
// the delivery ids seen in the last hour.
type hookGuard struct {
	slots chan struct{}
	now   func() time.Time

	mu   sync.Mutex
	seen map[string]time.Time
	fifo []string
}

func newHookGuard(now func() time.Time) *hookGuard {
	return &hookGuard{slots: make(chan struct{}, maxHookConcurrent), now: now, seen: map[string]time.Time{}}
}

// deliveryHeaders carry a delivery's unique id: GitHub, Gitea, Forgejo,
// GitLab (Idempotency-Key since 17.x, the event UUID before).
var deliveryHeaders = []string{"X-GitHub-Delivery", "X-Gitea-Delivery", "X-Forgejo-Delivery", "Idempotency-Key", "X-Gitlab-Event-UUID"}

func deliveryID(h http.Header) string {
	for _, name := range deliveryHeaders {
		if v := strings.TrimSpace(h.Get(name)); v != "" {
			return name + ":" + v
		}
	}
	return ""
}

// replayed records id and reports whether it was seen in the last hour.
func (g *hookGuard) replayed(id string) bool {
	if id == "" {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for len(g.fifo) > 0 && (len(g.fifo) >= maxDeliveries || now.Sub(g.seen[g.fifo[0]]) > replayWindow) {
		delete(g.seen, g.fifo[0])
		g.fifo = g.fifo[1:]
	}
	if t, ok := g.seen[id]; ok && now.Sub(t) <= replayWindow {
		return true
	}
	g.seen[id] = now
	g.fifo = append(g.fifo, id)
	return false
}

// hasSignature reports whether a request carries any signature header.
func hasSignature(h http.Header) bool {
	for _, name := range []string{"X-Hub-Signature-256", "X-Gitea-Signature", "X-Forgejo-Signature", "X-Gitlab-Token"} {
		if h.Get(name) != "" {
			return true
		}
	}
	return false
}

// hook triggers a sync when the request is signed with webhook_secret.
// Everything that can be refused without the body is refused before it
// is read: webhooks off (403), no signature header or a wrong GitLab
// token (401), too many requests in flight (503), a declared length over
// 1 MB (413). The body is then read through http.MaxBytesReader, the
// HMAC checked (401), and a delivery id seen in the last hour refused
// (409). A request that is refused changes nothing.
func (d *Daemon) hook(w http.ResponseWriter, r *http.Request) {
	refuse := func(result, msg string, code int) {
		d.metrics.webhooks.WithLabelValues(result).Inc()
		w.Header().Set("Connection", "close")
		http.Error(w, msg, code)
	}
	if d.cfg.WebhookSecret == "" {
		refuse("disabled", "webhooks are disabled: set webhook_secret", http.StatusForbidden)
		return
	}
	if !hasSignature(r.Header) || (r.Header.Get("X-Gitlab-Token") != "" && !ValidSignature(onlyGitlab(r.Header), nil, d.cfg.WebhookSecret)) {
		d.log.Warn("webhook with a bad or missing signature", "remote", r.RemoteAddr)
		refuse("unauthorized", "bad signature", http.StatusUnauthorized)
		return
	}
	select {
	case d.hooks.slots <- struct{}{}:
		defer func() { <-d.hooks.slots }()
	default:
		refuse("busy", "too many webhook requests", http.StatusServiceUnavailable)
		return
	}
	if r.ContentLength > maxHookBody {
		refuse("too_large", "payload too large", http.StatusRequestEntityTooLarge)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxHookBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			refuse("too_large", "payload too large", http.StatusRequestEntityTooLarge)
			return
		}
		refuse("bad_request", "reading body", http.StatusBadRequest)
		return
	}
	if !ValidSignature(r.Header, body, d.cfg.WebhookSecret) {
		d.log.Warn("webhook with a bad or missing signature", "remote", r.RemoteAddr)
		refuse("unauthorized", "bad signature", http.StatusUnauthorized)
		return
	}
	if id := deliveryID(r.Header); d.hooks.replayed(id) {
		d.log.Warn("webhook delivery replayed; ignored", "delivery", id, "remote", r.RemoteAddr)
		refuse("replayed", "delivery already received", http.StatusConflict)
		return
	}
	var push struct {
		Ref string `json:"ref"`
	}
	if json.Unmarshal(body, &push) == nil && push.Ref != "" && push.Ref != "refs/heads/"+d.cfg.Branch {
		d.metrics.webhooks.WithLabelValues("ignored").Inc()
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ignored: push to "+push.Ref+"\n")
		return
	}
	d.metrics.webhooks.WithLabelValues("accepted").Inc()
	d.Trigger()
	w.WriteHeader(http.StatusAccepted)
	io.WriteString(w, "sync triggered\n")
}

// onlyGitlab keeps the GitLab token header, which is checked without the body.
func onlyGitlab(h http.Header) http.Header {
	return http.Header{"X-Gitlab-Token": h.Values("X-Gitlab-Token")}
}
