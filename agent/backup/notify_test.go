package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// TestNotifierFormats: ntfy gets the message as its body and the title as
// a header, Gotify (a path ending in /message) its JSON; an answer of 300
// or more and an unreachable receiver are errors that never echo the URL,
// whose token comes from the secrets.
func TestNotifierFormats(t *testing.T) {
	type got struct {
		path, ctype, title, body string
	}
	var last got
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		last = got{r.URL.Path + "?" + r.URL.RawQuery, r.Header.Get("Content-Type"), r.Header.Get("Title"), string(b)}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	store := secrets.FromMap(map[string]string{"GOTIFY_TOKEN": "s3cr3t-token", "DB_PASSWORD": "hunter22"})
	ctx := context.Background()

	n := &Notifier{URL: srv.URL + "/backups", Secrets: store}
	if err := n.Send(ctx, "backup of immich failed", "restic said hunter22 is wrong"); err != nil {
		t.Fatalf("ntfy: %v", err)
	}
	if last.path != "/backups?" || last.title != "backup of immich failed" || !strings.HasPrefix(last.ctype, "text/plain") ||
		last.body != "restic said «secret:DB_PASSWORD» is wrong" {
		t.Fatalf("ntfy request: %+v", last)
	}

	n.URL = srv.URL + "/message?token=${secret:GOTIFY_TOKEN}"
	if err := n.Send(ctx, "backup of immich failed", "disk full"); err != nil {
		t.Fatalf("gotify: %v", err)
	}
	var msg struct {
		Title, Message string
		Priority       int
	}
	if err := json.Unmarshal([]byte(last.body), &msg); err != nil || last.ctype != "application/json" || last.path != "/message?token=s3cr3t-token" ||
		msg.Title != "backup of immich failed" || msg.Message != "disk full" || msg.Priority != 8 {
		t.Fatalf("gotify request: %+v (%v)", last, err)
	}

	for _, code := range []int{http.StatusMultipleChoices, http.StatusInternalServerError} {
		status = code
		err := n.Send(ctx, "t", "m")
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("notify_url answered %d %s", code, http.StatusText(code))) {
			t.Fatalf("an answer %d: %v", code, err)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Fatalf("the error echoes the token: %v", err)
		}
	}
	status = http.StatusNoContent
	if err := n.Send(ctx, "t", "m"); err != nil {
		t.Fatalf("an answer 204: %v", err)
	}

	srv.Close()
	err := n.Send(ctx, "t", "m")
	if err == nil || strings.Contains(err.Error(), "s3cr3t") || !strings.Contains(err.Error(), "posting to notify_url failed") {
		t.Fatalf("unreachable receiver: %v", err)
	}
	if err := (&Notifier{}).Send(ctx, "t", "m"); err != nil {
		t.Fatalf("no notify_url: %v", err)
	}
}
