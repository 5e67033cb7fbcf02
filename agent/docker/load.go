package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/homelab-agent/homelab-agent/agent/bounded"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// project is a loaded compose project: every service's desired spec, in
// dependency order, and the networks and volumes they use.
type project struct {
	Name     string
	Services []*Spec // dependency order: a service comes after what it depends on
	Networks map[string]netSpec
	Volumes  map[string]volSpec
	Secrets  []string // names referenced, sorted
}

type netSpec struct {
	Name       string // Docker name
	Driver     string
	DriverOpts map[string]string
	Internal   bool
	Attachable bool
	External   bool
	Labels     map[string]string
}

type volSpec struct {
	Name       string
	Driver     string
	DriverOpts map[string]string
	External   bool
	Labels     map[string]string
}

// loadProject parses the source's compose files. root maps host paths
// (absolute env_file paths, bind sources) under the pass's --root; environ
// is the host's environment for interpolation.
func loadProject(ctx context.Context, src *Source, root func(string) string, environ []string) (*project, error) {
	if len(src.Files) == 0 {
		return nil, fmt.Errorf("project %s: no compose file", src.Name)
	}
	for _, f := range src.Files {
		if err := checkSupported(f); err != nil {
			return nil, err
		}
	}
	env, err := interpolationEnv(src, environ)
	if err != nil {
		return nil, err
	}
	wd := src.Dir
	if wd == "" {
		wd = "/"
	}
	details := types.ConfigDetails{WorkingDir: wd, Environment: env}
	for _, f := range src.Files {
		details.ConfigFiles = append(details.ConfigFiles, types.ConfigFile{Filename: f.Name, Content: f.Content})
	}
	p, err := loader.LoadWithContext(ctx, details, func(o *loader.Options) {
		o.SetProjectName(src.Name, true)
		o.ResolvePaths = false
		o.SkipResolveEnvironment = true
		o.SkipInclude = true
		o.Interpolate.Substitute = substitute
	})
	if err != nil {
		return nil, fmt.Errorf("loading %s: %s", fileNames(src), hideSecrets(err.Error()))
	}
	return convertProject(src, p, env, root)
}

func fileNames(src *Source) string {
	var names []string
	for _, f := range src.Files {
		names = append(names, f.Name)
	}
	return strings.Join(names, " + ")
}

// substitute is compose interpolation with ${secret:NAME} kept as a
// placeholder, in the file and in the values variables expand to.
func substitute(s string, m template.Mapping) (string, error) {
	return template.Substitute(hideSecrets(s), func(k string) (string, bool) {
		v, ok := m(k)
		return hideSecrets(v), ok
	})
}

// interpolationEnv is the role's vars, overridden by the repo's .env next
// to the compose file, overridden by the host's environment (without the
// agent's own HOMELAB_SECRET_* and HOMELAB_AGENT_* variables, which must
// never reach a spec).
func interpolationEnv(src *Source, environ []string) (types.Mapping, error) {
	env := types.Mapping{}
	for k, v := range src.Vars {
		env[k] = hideSecrets(v)
	}
	if src.Dir != "" {
		if data, err := src.readRepo(".env", relName(src, ".env")); err == nil {
			vals, err := dotenv.ParseWithLookup(bytes.NewReader([]byte(hideSecrets(string(data)))), func(k string) (string, bool) {
				v, ok := env[k]
				return v, ok
			})
			if err != nil {
				return nil, fmt.Errorf("reading %s: %w", relName(src, ".env"), err)
			}
			for k, v := range vals {
				env[k] = v
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("reading %s: %w", relName(src, ".env"), err)
		}
	}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || secrets.Private(k) {
			continue
		}
		env[k] = hideSecrets(v)
	}
	return env, nil
}

// relName names a file beside the project's first compose file.
func relName(src *Source, name string) string {
	return filepath.Join(filepath.Dir(src.Files[0].Name), name)
}

// serviceEnv resolves a service's environment like compose does: env_file
// entries in order, then environment:, where a bare KEY takes the value of
// the interpolation environment.
func serviceEnv(src *Source, s types.ServiceConfig, env types.Mapping, root func(string) string) (map[string]string, error) {
	out := map[string]string{}
	for _, ef := range s.EnvFiles {
		path, name := ef.Path, ef.Path
		switch {
		case filepath.IsAbs(path):
			path = root(path)
		case src.Dir == "":
			return nil, fmt.Errorf("%s: services.%s.env_file: relative path %q needs a compose file in the lab repo", src.Files[0].Name, s.Name, ef.Path)
		default:
			clean := filepath.Clean(path)
			if clean == ".." || strings.HasPrefix(clean, "../") {
				return nil, fmt.Errorf("%s: services.%s.env_file: %q is outside the lab repo", src.Files[0].Name, s.Name, ef.Path)
			}
			name = relName(src, clean)
			path = ""
		}
		var data []byte
		var err error
		if path == "" {
			data, err = src.readRepo(filepath.Clean(ef.Path), name)
		} else {
			data, err = bounded.ReadFile(path, name, bounded.RepoFile)
		}
		if errors.Is(err, os.ErrNotExist) && !bool(ef.Required) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: services.%s.env_file: %w", src.Files[0].Name, s.Name, err)
		}
		vals, err := dotenv.ParseWithLookup(bytes.NewReader([]byte(hideSecrets(string(data)))), func(k string) (string, bool) {
			if v, ok := env[k]; ok {
				return v, true
			}
			v, ok := out[k]
			return v, ok
		})
		if err != nil {
			return nil, fmt.Errorf("%s: invalid env file: %s", name, hideSecrets(err.Error()))
		}
		for k, v := range vals {
			out[k] = v
		}
	}
	for k, v := range s.Environment {
		if v != nil {
			out[k] = *v
			continue
		}
		if ev, ok := env[k]; ok {
			out[k] = ev
		}
	}
	return out, nil
}

// order sorts services so that each comes after what it depends on.
func order(p *types.Project) ([]string, error) {
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, path []string) error
	visit = func(name string, path []string) error {
		switch state[name] {
		case 1:
			return fmt.Errorf("depends_on cycle: %s", strings.Join(append(path, name), " -> "))
		case 2:
			return nil
		}
		state[name] = 1
		s := p.Services[name]
		deps := make([]string, 0, len(s.DependsOn))
		for d := range s.DependsOn {
			deps = append(deps, d)
		}
		slices.Sort(deps)
		for _, d := range deps {
			if _, ok := p.Services[d]; !ok {
				if s.DependsOn[d].Required {
					return fmt.Errorf("service %s depends on unknown service %s", name, d)
				}
				continue
			}
			if err := visit(d, append(path, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		out = append(out, name)
		return nil
	}
	names := p.ServiceNames()
	slices.Sort(names)
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}
