package docker

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/client"
	"gopkg.in/yaml.v3"

	"github.com/homelab-agent/homelab-agent/agent/hold"
	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Project is the container resource: one compose project converged on the
// Docker Engine. Its ID is "containers:<name>".
type Project struct {
	Source
	// Connect opens the engine client; nil uses Shared (DOCKER_HOST).
	Connect Connector
	// HealthTimeout bounds each wait for a dependency's condition (5 minutes when zero).
	HealthTimeout time.Duration
	// Environ is the host environment for interpolation (os.Environ() when nil).
	Environ []string
	// Requires lists resource IDs (the config files the containers mount)
	// whose failure skips this project in a pass.
	Requires []string
	// UpdateDefaults are the role's image update rules by service ("" for
	// every service not named): policy, one major at a time, a command
	// after an update. The lab's updates: blocks resolve them into Updates.
	UpdateDefaults map[string]images.Rules
	// LabUpdates and OwnUpdates are the lab's updates: block and the
	// host's (role project) or app's own; each pass resolves them with
	// UpdateDefaults into Updates.
	LabUpdates, OwnUpdates *lab.Updates
	// Updates are the resolved rules by service ("" for the others); nil:
	// images are pulled only when missing and never updated.
	Updates map[string]images.Rules
}

// resolveUpdates sets Updates from the lab's blocks, when it has any.
func (p *Project) resolveUpdates(proj *project) error {
	if p.LabUpdates == nil && p.OwnUpdates == nil {
		return nil
	}
	var services []string
	for _, s := range proj.Services {
		services = append(services, s.Service)
	}
	rules, err := ResolveUpdates(p.LabUpdates, p.OwnUpdates, p.UpdateDefaults, services)
	if err != nil {
		return err
	}
	p.Updates = rules
	return nil
}

// DependsOn implements resource.Depender.
func (p *Project) DependsOn() []string { return p.Requires }

var (
	_ resource.Resource   = (*Project)(nil)
	_ resource.SecretUser = (*Project)(nil)
	_ resource.Depender   = (*Project)(nil)
)

// ID implements resource.Resource.
func (p *Project) ID() string { return "containers:" + p.Name }

// Subsystem implements resource.Resource.
func (p *Project) Subsystem() string { return Subsystem }

// SecretNames implements resource.SecretUser: the secrets the compose
// files, the role's vars, the repo's .env and relative env files name.
func (p *Project) SecretNames() []string {
	set := map[string]bool{}
	for _, n := range p.Source.SecretNames() {
		set[n] = true
	}
	if p.Dir != "" {
		scan := func(rel string) {
			clean := filepath.Clean(rel)
			if filepath.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
				return
			}
			if data, err := p.Source.readRepo(clean, clean); err == nil {
				for _, n := range secrets.Names(string(data)) {
					set[n] = true
				}
			}
		}
		scan(".env")
		for _, f := range p.Files {
			for _, ef := range envFileNames(f.Content) {
				scan(ef)
			}
		}
	}
	out := make([]string, 0, len(set))
	for n := range set {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// envFileNames lists the env_file paths a compose file names.
func envFileNames(content []byte) []string {
	var doc struct {
		Services map[string]struct {
			EnvFile any `yaml:"env_file"`
		} `yaml:"services"`
	}
	if yaml.Unmarshal(content, &doc) != nil {
		return nil
	}
	var out []string
	for _, s := range doc.Services {
		switch v := s.EnvFile.(type) {
		case string:
			out = append(out, v)
		case []any:
			for _, e := range v {
				switch e := e.(type) {
				case string:
					out = append(out, e)
				case map[string]any:
					if p, ok := e["path"].(string); ok {
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

// step is one container change of a pass.
type step struct {
	spec    *Spec
	action  string // create, recreate, start, remove
	reasons []string
	old     *container.Summary
	hash    string
	fields  string
}

func (s *step) line() string {
	name := s.spec.Service
	mark := map[string]string{"create": "+", "recreate": "~", "start": "~", "remove": "-"}[s.action]
	return fmt.Sprintf("%s %s (%s): %s", mark, name, s.spec.Name, strings.Join(s.reasons, ", "))
}

func (p *Project) client() (*client.Client, error) {
	if p.Connect != nil {
		return p.Connect()
	}
	return Shared()
}

func (p *Project) environ() []string {
	if p.Environ != nil {
		return p.Environ
	}
	return os.Environ()
}

// CheckApply implements resource.Resource: one list call to see the
// project's containers; with nothing to do, nothing else is called.
func (p *Project) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	if reason, held := hold.Check(env.Root, p.Name); held && !hold.Owned(ctx, p.Name) {
		return &resource.Change{ID: p.ID(), Subsystem: p.Subsystem(), Action: resource.ActionHeld,
			Summary: fmt.Sprintf("held by %s: containers left as they are this pass", reason)}, nil
	}
	proj, err := loadProject(ctx, &p.Source, env.Path, p.environ())
	if err != nil {
		return nil, err
	}
	if err := p.resolveUpdates(proj); err != nil {
		return nil, err
	}
	composeImages := map[string]string{}
	for _, s := range proj.Services {
		composeImages[s.Service] = s.Image
	}
	cli, err := p.client()
	if err != nil {
		return nil, err
	}
	if err := p.pin(ctx, env, cli, proj); err != nil {
		return nil, err
	}
	existing, err := cli.ContainerList(ctx, container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", LabelProject+"="+p.Name))})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", wrapConn(cli, err))
	}
	steps, err := p.diff(ctx, cli, env, proj, existing)
	if err != nil {
		return nil, err
	}
	var news []string
	if !apply {
		news = p.planUpdates(ctx, env, cli, proj, composeImages)
	}
	if len(steps) == 0 {
		if len(news) > 0 {
			return &resource.Change{ID: p.ID(), Subsystem: p.Subsystem(), Action: resource.ActionNotice,
				Summary: fmt.Sprintf("%d image update(s) available", len(news)), Diff: strings.Join(news, "\n") + "\n"}, nil
		}
		return nil, nil
	}
	ch := summarize(p.ID(), steps)
	if !apply {
		if len(news) > 0 {
			ch.Diff += strings.Join(news, "\n") + "\n"
		}
		return ch, nil
	}
	c := &converger{p: p, cli: cli, env: env, proj: proj}
	if err := c.run(ctx, steps); err != nil {
		return ch, err
	}
	return ch, nil
}

// diff compares the desired project with the containers carrying its label.
func (p *Project) diff(ctx context.Context, cli *client.Client, env *resource.Env, proj *project, existing []container.Summary) ([]*step, error) {
	byService := map[string][]container.Summary{}
	for _, c := range existing {
		byService[c.Labels[LabelService]] = append(byService[c.Labels[LabelService]], c)
	}
	resolve := resolver(env.Secrets)
	var steps []*step
	for _, spec := range proj.Services {
		f := spec.fields(resolve)
		st := &step{spec: spec, fields: encodeFields(f), hash: hashFields(f)}
		cs := byService[spec.Service]
		delete(byService, spec.Service)
		// More than one container for a service (an interrupted pass of an
		// older agent): keep the one with the desired name, remove the rest.
		slices.SortStableFunc(cs, func(a, b container.Summary) int {
			return boolInt(!hasName(a, spec.Name)) - boolInt(!hasName(b, spec.Name))
		})
		for _, extra := range cs[min(1, len(cs)):] {
			steps = append(steps, &step{spec: &Spec{Service: spec.Service, Name: containerName(extra)}, action: "remove", reasons: []string{"duplicate"}, old: &extra})
		}
		if len(cs) == 0 {
			st.action, st.reasons = "create", []string{"new"}
			steps = append(steps, st)
			continue
		}
		c := cs[0]
		st.old = &c
		switch {
		case c.Labels[LabelHash] != st.hash:
			st.action, st.reasons = "recreate", reasons(c.Labels[LabelFields], f)
		case c.Image != spec.Image:
			// The engine lists the image ID instead of the name when the
			// name now points to another image (or to none).
			st.action, st.reasons = "recreate", []string{"image updated"}
		case spec.PullPolicy == "always":
			newer, err := p.remoteNewer(ctx, cli, env, spec.Image)
			if err != nil {
				return nil, err
			}
			if newer {
				st.action, st.reasons = "recreate", []string{"image digest changed in the registry"}
			}
		}
		if st.action == "" {
			switch {
			case c.State == "created":
				st.action, st.reasons = "start", []string{"not started"}
			case (c.State == "exited" || c.State == "dead") && (spec.Restart == "always" || spec.Restart == "unless-stopped"):
				st.action, st.reasons = "start", []string{"stopped"}
			}
		}
		if st.action != "" {
			steps = append(steps, st)
		}
	}
	var gone []string
	for svc := range byService {
		gone = append(gone, svc)
	}
	sort.Strings(gone)
	for _, svc := range gone {
		for _, c := range byService[svc] {
			steps = append(steps, &step{spec: &Spec{Service: svc, Name: containerName(c)}, action: "remove",
				reasons: []string{"removed from repo"}, old: &c})
		}
	}
	return steps, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func hasName(c container.Summary, name string) bool { return slices.Contains(c.Names, "/"+name) }

func containerName(c container.Summary) string {
	if len(c.Names) > 0 {
		return strings.TrimPrefix(c.Names[0], "/")
	}
	return c.ID[:12]
}

// summarize makes the pass's change: a summary and one line per container.
func summarize(id string, steps []*step) *resource.Change {
	count := map[string][]string{}
	var b strings.Builder
	for _, s := range steps {
		count[s.action] = append(count[s.action], s.spec.Service)
		b.WriteString(s.line() + "\n")
	}
	var parts []string
	for _, a := range []string{"create", "recreate", "start", "remove"} {
		if len(count[a]) > 0 {
			parts = append(parts, a+" "+strings.Join(count[a], ", "))
		}
	}
	action := "update"
	switch {
	case len(count) == 1 && len(count["create"]) > 0:
		action = "create"
	case len(count) == 1 && len(count["remove"]) > 0:
		action = "delete"
	}
	return &resource.Change{ID: id, Subsystem: Subsystem, Action: action, Summary: strings.Join(parts, "; "), Diff: b.String()}
}

// Validate parses the project's compose files as a pass would (host paths
// as they are, the agent's own environment) and reports the first
// problem: an unsupported key (file:line:col), a bad value, a missing
// env file. It talks to no engine.
func (p *Project) Validate(ctx context.Context) error {
	_, err := loadProject(ctx, &p.Source, func(s string) string { return s }, p.environ())
	return err
}

// RenderDir is where `render` puts a project's compose files and variables
// (a review path, not a file the host gets).
const RenderDir = "/containers/"

// Render implements resource.Renderer: the project's compose files in merge
// order and the variables their interpolation starts from.
func (p *Project) Render() []resource.Rendered {
	dir := RenderDir + p.Name + "/"
	var out []resource.Rendered
	for i, f := range p.Files {
		out = append(out, resource.Rendered{Path: fmt.Sprintf("%s%d-%s", dir, i+1, filepath.Base(f.Name)), Content: f.Content, Mode: 0o644})
	}
	if len(p.Vars) > 0 {
		keys := make([]string, 0, len(p.Vars))
		for k := range p.Vars {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		b.WriteString("# interpolation defaults the role sets; the repo's .env and the host's environment override them\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "%s=%s\n", k, p.Vars[k])
		}
		out = append(out, resource.Rendered{Path: dir + "vars.env", Content: []byte(b.String()), Mode: 0o644})
	}
	return out
}

var _ resource.Renderer = (*Project)(nil)
