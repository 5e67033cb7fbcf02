package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Notifier posts a message to backup.notify_url when a backup fails or
// grows old. The body suits the common receivers:
//   - ntfy (https://ntfy.sh/<topic>): the body is the message, the Title
//     header the title;
//   - Gotify (https://host/message?token=...): a URL whose path ends in
//     /message gets Gotify's JSON {"title","message","priority"};
//   - healthchecks.io (https://hc-ping.com/<uuid>/fail): any POST counts,
//     the body is kept as the ping's log.
type Notifier struct {
	URL     string
	Secrets *secrets.Store
	Client  *http.Client
}

// Send posts one notification. A notification that cannot be delivered
// is returned as an error; callers log it and carry on.
func (n *Notifier) Send(ctx context.Context, title, message string) error {
	if n == nil || n.URL == "" {
		return nil
	}
	target, err := n.Secrets.Expand(n.URL)
	if err != nil {
		return err
	}
	message = n.Secrets.Redact(message)
	var body []byte
	ctype := "text/plain; charset=utf-8"
	if u, err := url.Parse(target); err == nil && strings.HasSuffix(u.Path, "/message") {
		body, _ = json.Marshal(map[string]any{"title": title, "message": message, "priority": 8})
		ctype = "application/json"
	} else {
		body = []byte(message)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Title", title)
	req.Header.Set("Priority", "high")
	req.Header.Set("Tags", "warning")
	c := n.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		// The URL may hold a token: never echo it.
		return &Error{Op: "notifying", Code: -1, Kind: KindFailed, Msg: "posting to notify_url failed"}
	}
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return &Error{Op: "notifying", Code: -1, Kind: KindFailed, Msg: "notify_url answered " + resp.Status}
	}
	return nil
}
