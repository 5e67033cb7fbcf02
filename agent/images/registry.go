package images

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// DefaultTTL is how long a registry answer is reused.
const DefaultTTL = 6 * time.Hour

// Checker asks registries for digests and tags: one HEAD request on the
// manifest per image, one tag listing per repository, never a pull; the
// /v2/ handshake (and a token where the registry wants one) happens once
// per registry and Checker. Answers are cached in the Store for TTL.
type Checker struct {
	Store *Store
	// TTL is how long an answer is reused (DefaultTTL when zero).
	TTL time.Duration
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// Transport is the HTTP transport (remote.DefaultTransport when nil).
	Transport http.RoundTripper

	mu         sync.Mutex
	transports map[string]http.RoundTripper // by registry
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Checker) ttl() time.Duration {
	if c.TTL > 0 {
		return c.TTL
	}
	return DefaultTTL
}

// options authenticate against repo's registry once per Checker: later
// repositories of the same registry reuse its transport (a bearer token
// is widened to their scope on the registry's 401, as Docker does).
func (c *Checker) options(ctx context.Context, repo name.Repository) ([]remote.Option, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	reg := repo.Registry.RegistryStr()
	rt, ok := c.transports[reg]
	if !ok {
		auth, err := authn.DefaultKeychain.Resolve(repo)
		if err != nil {
			return nil, fmt.Errorf("credentials for %s: %w", reg, err)
		}
		inner := c.Transport
		if inner == nil {
			inner = remote.DefaultTransport
		}
		rt, err = transport.NewWithContext(ctx, repo.Registry, auth, transport.NewUserAgent(inner, "homelab-agent"),
			[]string{repo.Scope(transport.PullScope)})
		if err != nil {
			return nil, fmt.Errorf("reaching the registry %s: %w", reg, err)
		}
		if c.transports == nil {
			c.transports = map[string]http.RoundTripper{}
		}
		c.transports[reg] = rt
	}
	return []remote.Option{remote.WithTransport(rt), remote.WithContext(ctx)}, nil
}

// Digest is the registry's manifest digest for ref ("repo:tag").
func (c *Checker) Digest(ctx context.Context, ref string) (string, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", ref, err)
	}
	key := "digest " + r.Name()
	if a, ok := c.Store.answer(key, c.ttl(), c.now()); ok {
		return a.Digest, nil
	}
	opts, err := c.options(ctx, r.Context())
	if err != nil {
		return "", err
	}
	d, err := remote.Head(r, opts...)
	if err != nil {
		return "", fmt.Errorf("asking the registry for %s: %w", r.Name(), err)
	}
	c.Store.remember(key, Answer{Digest: d.Digest.String(), At: c.now()})
	return d.Digest.String(), nil
}

// Tags lists a repository's tags.
func (c *Checker) Tags(ctx context.Context, repo string) ([]string, error) {
	r, err := name.NewRepository(repo)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", repo, err)
	}
	key := "tags " + r.Name()
	if a, ok := c.Store.answer(key, c.ttl(), c.now()); ok {
		return a.Tags, nil
	}
	opts, err := c.options(ctx, r)
	if err != nil {
		return nil, err
	}
	tags, err := remote.List(r, opts...)
	if err != nil {
		return nil, fmt.Errorf("listing the tags of %s: %w", r.Name(), err)
	}
	c.Store.remember(key, Answer{Tags: tags, At: c.now()})
	return tags, nil
}

// Split parses an image reference into its repository (normalised,
// "index.docker.io/library/nextcloud") and tag ("latest" when none);
// digest is set for "repo@sha256:…" references.
func Split(ref string) (repo, tag, digest string, err error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return "", "", "", fmt.Errorf("image %s: %w", ref, err)
	}
	switch v := r.(type) {
	case name.Tag:
		return v.Context().Name(), v.TagStr(), "", nil
	case name.Digest:
		return v.Context().Name(), "", v.DigestStr(), nil
	}
	return "", "", "", fmt.Errorf("image %s: not a tag or digest reference", ref)
}

// Check is what a policy finds for one service.
type Check struct {
	// Tag is the tag the policy wants (the compose tag for track).
	Tag string
	// Digest is the registry's digest for Tag.
	Digest string
}

// Want asks the registry what the policy wants for a service whose
// compose file names image and which runs runningTag now ("" when it
// runs image's own tag): for track, image's tag and its digest; for
// patch and minor, the best tag of the range and its digest; with
// MajorStep, a tag at most one major after runningTag. Pinned and Off
// ask nothing and return nil.
func (c *Checker) Want(ctx context.Context, rules Rules, image, runningTag string) (*Check, error) {
	if !rules.Policy.Follows() {
		return nil, nil
	}
	repo, tag, digest, err := Split(image)
	if err != nil {
		return nil, err
	}
	if digest != "" {
		return nil, nil // the compose file pins a digest itself
	}
	if runningTag == "" {
		runningTag = tag
	}
	want := tag
	var tags []string
	if rules.Policy == Patch || rules.Policy == Minor || (rules.MajorStep && runningTag != tag) {
		if !Versioned(tag) {
			return nil, fmt.Errorf("image %s: update policy %s needs a version tag (X, X.Y or X.Y.Z); use track for a tag such as %q", image, rules.Policy, tag)
		}
		if tags, err = c.Tags(ctx, repo); err != nil {
			return nil, err
		}
	}
	if rules.Policy == Patch || rules.Policy == Minor {
		want, _ = NextTag(rules.Policy, tag, runningTag, tags)
	}
	if rules.MajorStep && runningTag != want {
		step, ok := StepTag(runningTag, want, tags)
		if !ok {
			return nil, fmt.Errorf("image %s: %s goes one major version at a time and the registry has no release of the major after %s", image, repo, runningTag)
		}
		want = step
	}
	d, err := c.Digest(ctx, repo+":"+want)
	if err != nil {
		return nil, err
	}
	return &Check{Tag: want, Digest: d}, nil
}
