package docker

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

func TestPullPolicies(t *testing.T) {
	h := newHarness(t)
	// never: a missing image is an error before anything is created.
	_, err := h.project("services:\n  a:\n    image: 127.0.0.1:1/nope:v1\n    pull_policy: never\n").CheckApply(context.Background(), h.env, true)
	if err == nil || !strings.Contains(err.Error(), "image 127.0.0.1:1/nope:v1 is not on this host and pull_policy is never") {
		t.Fatalf("never: %v", err)
	}
	// missing (the default): the agent pulls, from a registry that is not there.
	_, err = h.project("services:\n  a:\n    image: 127.0.0.1:1/nope:v1\n").CheckApply(context.Background(), h.env, true)
	if err == nil || !strings.Contains(err.Error(), "pulling 127.0.0.1:1/nope:v1") {
		t.Fatalf("missing: %v", err)
	}
	// present: no pull, and the calls of the pass hold no image pull.
	h.count.Calls()
	h.apply(h.project("services:\n  a:\n    image: IMAGE:v1\n    pull_policy: missing\n"))
	for _, c := range h.count.Calls() {
		if strings.HasPrefix(c, "POST /images/create") {
			t.Fatalf("pulled a present image: %s", c)
		}
	}
}

func TestPullLogLines(t *testing.T) {
	stream := `{"status":"Pulling from x","id":"v1"}
{"status":"Downloading","id":"l1","progressDetail":{"current":1048576,"total":4194304}}
{"status":"Pull complete","id":"l1"}
{"status":"Status: Downloaded newer image for x:v1"}
`
	var buf bytes.Buffer
	env := &resource.Env{Log: slog.New(slog.NewTextHandler(&buf, nil)), Secrets: secrets.FromMap(nil)}
	if err := pullLog(strings.NewReader(stream), env, "x:v1", 0); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.Contains(out, "layers_done=1") || !strings.Contains(out, "Downloaded newer image") {
		t.Fatalf("log:\n%s", out)
	}
	err := pullLog(strings.NewReader(`{"errorDetail":{"message":"manifest unknown"},"error":"manifest unknown"}`), env, "x:v1", 0)
	if err == nil || !strings.Contains(err.Error(), "pulling x:v1: manifest unknown") {
		t.Fatalf("err %v", err)
	}
}
