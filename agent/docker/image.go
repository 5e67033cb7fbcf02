package docker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	"github.com/moby/term"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// ensureImage makes the spec's image present: pulled when missing (policy
// missing or always), an error when missing under pull_policy never.
func (c *converger) ensureImage(ctx context.Context, s *Spec) error {
	_, err := c.cli.ImageInspect(ctx, s.Image)
	switch {
	case err == nil && s.PullPolicy != "always":
		return nil
	case err == nil:
		newer, err := c.p.remoteNewer(ctx, c.cli, c.env, s.Image)
		if err != nil || !newer {
			return err
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("inspecting image %s: %w", s.Image, err)
	case s.PullPolicy == "never":
		return fmt.Errorf("image %s is not on this host and pull_policy is never", s.Image)
	}
	return pull(ctx, c.cli, c.env, s.Image, os.Stderr)
}

// remoteNewer reports whether the registry's digest for ref differs from
// the local image's. A registry that cannot be reached is logged, not an
// error: the local image keeps running.
func (p *Project) remoteNewer(ctx context.Context, cli *client.Client, env *resource.Env, ref string) (bool, error) {
	local, err := cli.ImageInspect(ctx, ref)
	if errdefs.IsNotFound(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("inspecting image %s: %w", ref, err)
	}
	dist, err := cli.DistributionInspect(ctx, ref, "")
	if err != nil {
		env.Logger().Warn("cannot check the registry for a newer image; keeping the local one", "image", ref, "error", err.Error())
		return false, nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return false, fmt.Errorf("image %s: %w", ref, err)
	}
	want := named.Name() + "@" + dist.Descriptor.Digest.String()
	for _, d := range local.RepoDigests {
		if n, err := reference.ParseNormalizedNamed(d); err == nil && n.String() == want {
			return false, nil
		}
	}
	return true, nil
}

// pull pulls an image: a progress display when out is a terminal,
// otherwise a log line every 10 seconds.
func pull(ctx context.Context, cli *client.Client, env *resource.Env, ref string, out *os.File) error {
	env.Logger().Info("pulling image", "image", ref)
	rc, err := cli.ImagePull(ctx, ref, image.PullOptions{})
	if err != nil {
		return fmt.Errorf("pulling %s: %w", ref, err)
	}
	defer rc.Close()
	if fd, isTerm := term.GetFdInfo(out); isTerm {
		if err := jsonmessage.DisplayJSONMessagesStream(rc, out, fd, true, nil); err != nil {
			return fmt.Errorf("pulling %s: %w", ref, err)
		}
		return nil
	}
	return pullLog(rc, env, ref, 10*time.Second)
}

// pullLog reads the pull's JSON stream and logs a summary line now and then.
func pullLog(r io.Reader, env *resource.Env, ref string, every time.Duration) error {
	dec := json.NewDecoder(r)
	layers := map[string][2]int64{} // id -> current, total
	done := map[string]bool{}
	last := time.Now()
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("pulling %s: reading progress: %w", ref, err)
		}
		if m.Error != nil {
			return fmt.Errorf("pulling %s: %s", ref, m.Error.Message)
		}
		if m.ID != "" && m.Progress != nil {
			layers[m.ID] = [2]int64{m.Progress.Current, m.Progress.Total}
		}
		if m.ID != "" && slices.Contains([]string{"Pull complete", "Already exists"}, m.Status) {
			done[m.ID] = true
		}
		if time.Since(last) >= every {
			var cur, tot int64
			for _, l := range layers {
				cur, tot = cur+l[0], tot+l[1]
			}
			env.Logger().Info("pulling image", "image", ref, "layers_done", len(done), "layers", max(len(layers), len(done)),
				"mb", fmt.Sprintf("%d/%d", cur>>20, tot>>20))
			last = time.Now()
		}
		if strings.HasPrefix(m.Status, "Status:") {
			env.Logger().Info("pulled image", "image", ref, "status", strings.TrimSpace(strings.TrimPrefix(m.Status, "Status:")))
		}
	}
	return nil
}
