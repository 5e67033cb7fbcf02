package rotate

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// TestCredential: first sight remembers (no change), a changed value is
// planned without values and applied once, a failure keeps the old value
// remembered, a missing secret is not this resource's business.
func TestCredential(t *testing.T) {
	root := t.TempDir()
	var calls [][2]string
	fail := false
	c := &Credential{Secret: "DB_PW", How: "ALTER ROLE app", Sub: "containers",
		Apply: func(_ context.Context, _ *resource.Env, old, new string) error {
			calls = append(calls, [2]string{old, new})
			if fail {
				return errors.New("database down")
			}
			return nil
		}}
	env := func(v string) *resource.Env {
		return &resource.Env{Root: root, Secrets: secrets.FromMap(map[string]string{"DB_PW": v})}
	}
	ctx := context.Background()
	if ch, err := c.CheckApply(ctx, env("one"), false); ch != nil || err != nil {
		t.Fatalf("plan at first sight: %v %v", ch, err)
	}
	if _, err := os.Stat(filepath.Join(root, Dir, "DB_PW")); !os.IsNotExist(err) {
		t.Fatal("a plan wrote")
	}
	if ch, err := c.CheckApply(ctx, env("one"), true); ch != nil || err != nil {
		t.Fatalf("apply at first sight: %v %v", ch, err)
	}
	fi, err := os.Stat(filepath.Join(root, Dir))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("credentials folder: %v %v", fi, err)
	}
	ch, err := c.CheckApply(ctx, env("two"), false)
	if err != nil || ch == nil || ch.Summary != "secret DB_PW changed (rotate: ALTER ROLE app)" || len(calls) != 0 {
		t.Fatalf("plan: %+v %v %v", ch, err, calls)
	}
	fail = true
	_, err = c.CheckApply(ctx, env("two"), true)
	if err == nil || !strings.Contains(err.Error(), "rotating secret DB_PW (ALTER ROLE app) failed; the old value still works: database down") {
		t.Fatalf("failure: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, Dir, "DB_PW")); string(b) != "one" {
		t.Fatal("a failure changed the remembered value")
	}
	fail = false
	if _, err := c.CheckApply(ctx, env("two"), true); err != nil {
		t.Fatal(err)
	}
	if ch, err := c.CheckApply(ctx, env("two"), true); ch != nil || err != nil {
		t.Fatalf("second apply: %v %v", ch, err)
	}
	if len(calls) != 2 || calls[1] != [2]string{"one", "two"} {
		t.Fatalf("calls %v", calls)
	}
	if ch, err := c.CheckApply(ctx, &resource.Env{Root: root, Secrets: secrets.FromMap(nil)}, true); ch != nil || err != nil {
		t.Fatalf("missing secret: %v %v", ch, err)
	}
}

func TestReturning(t *testing.T) {
	if IsReturning(context.Background()) || !IsReturning(Returning(context.Background())) {
		t.Fatal("Returning/IsReturning")
	}
}
