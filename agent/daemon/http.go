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
