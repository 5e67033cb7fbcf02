package daemon

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/homelab-agent/homelab-agent/agent/fleet"
)

// Handler serves GET /healthz, GET /status, GET /metrics and POST /hooks/git.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		writeJSON(w, d.Status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(d.metrics.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("POST /hooks/git", d.hook)
	mux.HandleFunc("GET "+fleet.Path, d.fleetHandler)
	return mux
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// maxHookBody bounds a webhook's payload; a cut body fails the HMAC check.
const maxHookBody = 25 << 20 // GitHub caps payloads at 25 MB

// hook triggers a sync when the request is signed with webhook_secret.
// A request that is not gets 401 and changes nothing.
func (d *Daemon) hook(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxHookBody))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	if d.cfg.WebhookSecret == "" {
		d.metrics.webhooks.WithLabelValues("disabled").Inc()
		http.Error(w, "webhooks are disabled: set webhook_secret", http.StatusForbidden)
		return
	}
	if !ValidSignature(r.Header, body, d.cfg.WebhookSecret) {
		d.metrics.webhooks.WithLabelValues("unauthorized").Inc()
		d.log.Warn("webhook with a bad or missing signature", "remote", r.RemoteAddr)
		http.Error(w, "bad signature", http.StatusUnauthorized)
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

// ValidSignature checks a webhook's signature headers: GitHub's
// X-Hub-Signature-256 ("sha256=" + hex HMAC-SHA256 of the body), Gitea's
// and Forgejo's X-Gitea-Signature / X-Forgejo-Signature (hex HMAC-SHA256)
// and GitLab's X-Gitlab-Token (the secret itself). At least one must be
// present and every one present must match.
func ValidSignature(h http.Header, body []byte, secret string) bool {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	sum := mac.Sum(nil)
	checkHex := func(v string) bool {
		got, err := hex.DecodeString(strings.TrimSpace(v))
		return err == nil && hmac.Equal(got, sum)
	}
	seen := false
	if v := h.Get("X-Hub-Signature-256"); v != "" {
		seen = true
		hexSum, ok := strings.CutPrefix(v, "sha256=")
		if !ok || !checkHex(hexSum) {
			return false
		}
	}
	for _, name := range []string{"X-Gitea-Signature", "X-Forgejo-Signature"} {
		if v := h.Get(name); v != "" {
			seen = true
			if !checkHex(v) {
				return false
			}
		}
	}
	if v := h.Get("X-Gitlab-Token"); v != "" {
		seen = true
		if subtle.ConstantTimeCompare([]byte(v), []byte(secret)) != 1 {
			return false
		}
	}
	return seen
}
