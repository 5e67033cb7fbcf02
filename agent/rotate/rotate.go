// Package rotate owns credential rotation: when a secret's value changes
// (by git push, or `secrets rotate`), the new value is applied where the
// credential lives (a restic key, a database role) before anything uses
// it. The value that works there is remembered on the host, root only, in
// /var/lib/homelab-agent/credentials/<NAME>: the old value a rotation
// needs to authenticate. A role owns a credential by returning a
// *Credential among its resources; the engine adds restic's.
package rotate

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"

	"github.com/google/renameio/v2"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

type returningKey struct{}

// Returning marks ctx as a return to the last good commit (its head was
// refused or rolled back). A credential that hosts share (the restic
// repository's password) is then only made to work again for this host,
// never taken away from the hosts that applied the head (see IsReturning).
func Returning(ctx context.Context) context.Context {
	return context.WithValue(ctx, returningKey{}, true)
}

// IsReturning reports whether ctx is a return to the last good commit.
func IsReturning(ctx context.Context) bool {
	v, _ := ctx.Value(returningKey{}).(bool)
	return v
}

// Dir holds the applied value of each owned credential (mode 0700, files 0600).
const Dir = "/var/lib/homelab-agent/credentials"

// Credential is a secret the agent owns: Apply changes it from old to new
// where it lives. It must leave old working when it fails.
type Credential struct {
	Secret string
	// How names the mechanism for plans: "restic key", "ALTER ROLE nextcloud".
	How string
	// Sub is the subsystem the credential belongs to.
	Sub   string
	Apply func(ctx context.Context, env *resource.Env, old, new string) error
	// After lists resource IDs this one depends on (resource.Depender).
	After []string
}

var _ resource.Resource = (*Credential)(nil)

// ID implements resource.Resource.
func (c *Credential) ID() string { return "rotate:" + c.Secret }

// Subsystem implements resource.Resource.
func (c *Credential) Subsystem() string { return c.Sub }

// DependsOn implements resource.Depender.
func (c *Credential) DependsOn() []string { return c.After }

func (c *Credential) file(env *resource.Env) string { return env.Path(path.Join(Dir, c.Secret)) }

// CheckApply implements resource.Resource. The first time it sees the
// credential it only remembers the value (on apply, as bookkeeping, not a
// change): the value in place is the one the host was set up with. When
// the value differs from the remembered one, it reports "secret NAME
// changed (rotate: How)" and, on apply, runs Apply; on success the new
// value is remembered, on failure the old one stays remembered and the
// error says the old value still works.
func (c *Credential) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	// Not a resource.SecretUser: the resources that use the credential
	// say they need it; without a value there is nothing to rotate.
	want, ok := env.Secrets.Lookup(c.Secret)
	if !ok {
		return nil, nil
	}
	old, err := os.ReadFile(c.file(env))
	if errors.Is(err, os.ErrNotExist) {
		if apply {
			return nil, c.remember(env, want)
		}
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the applied value of %s: %w", c.Secret, err)
	}
	if string(old) == want {
		return nil, nil
	}
	ch := &resource.Change{ID: c.ID(), Subsystem: c.Sub, Action: "update",
		Summary: fmt.Sprintf("secret %s changed (rotate: %s)", c.Secret, c.How)}
	if !apply {
		return ch, nil
	}
	if err := c.Apply(ctx, env, string(old), want); err != nil {
		return ch, fmt.Errorf("rotating secret %s (%s) failed; the old value still works: %w", c.Secret, c.How, err)
	}
	return ch, c.remember(env, want)
}

func (c *Credential) remember(env *resource.Env, v string) error {
	p := c.file(env)
	if err := os.MkdirAll(path.Dir(p), 0o700); err != nil {
		return err
	}
	if err := renameio.WriteFile(p, []byte(v), 0o600); err != nil {
		return fmt.Errorf("remembering the applied value of %s: %w", c.Secret, err)
	}
	return nil
}
