// Package packages installs what a host's roles need, with apt: the
// packages (with a minimum version where it matters), third-party
// repositories with their signing key pinned in the agent, and the
// services to enable. It shells out to apt-get, apt-cache and systemctl
// (no Go API exists for them) non-interactively, with a lock wait and a
// timeout; a pass with nothing to install reads dpkg's status file and
// calls nothing.
package packages

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Subsystem is the name --only uses; it runs first in a pass.
const Subsystem = "packages"

// Package is a Debian package a role needs.
type Package struct {
	Name string
	// MinVersion is the oldest version that will do, as dpkg compares
	// versions (mind the epoch: BIND is "1:9.20"); "" is any.
	MinVersion string
	// Why says who needs it, for messages ("role dns").
	Why string
}

// Repo is a third-party apt repository, trusted only for what it signs
// with Key (signed-by), never through a `curl | sh`.
type Repo struct {
	// Name names the files: /etc/apt/keyrings/<Name>.asc and
	// /etc/apt/sources.list.d/<Name>.sources.
	Name       string
	URIs       string
	Suites     string
	Components string
	// Key is the repository's ASCII-armored OpenPGP public key, pinned in
	// the agent's source.
	Key []byte
}

// Apt is the host's packages resource.
type Apt struct {
	Packages []Package
	Repos    []Repo
	// Enable lists systemd units to enable and start (docker.service ...).
	Enable []string
	// Run runs a command on the host; nil runs it here. Tests run the
	// commands inside a container.
	Run func(ctx context.Context, env []string, argv ...string) ([]byte, error)
	// Timeout bounds one apt-get (20 minutes when zero).
	Timeout time.Duration
}

var (
	_ resource.Resource = (*Apt)(nil)
	_ resource.Renderer = (*Apt)(nil)
)

// ID implements resource.Resource.
func (a *Apt) ID() string { return "packages:apt" }

// Subsystem implements resource.Resource.
func (a *Apt) Subsystem() string { return Subsystem }

// Merge adds p to the set, keeping the highest minimum version per name.
func Merge(list []Package, p Package) []Package {
	for i, q := range list {
		if q.Name != p.Name {
			continue
		}
		if p.MinVersion != "" {
			if q.MinVersion == "" || higher(p.MinVersion, q.MinVersion) {
				list[i].MinVersion, list[i].Why = p.MinVersion, p.Why
			}
		}
		return list
	}
	return append(list, p)
}

func (a *Apt) repoFiles() []*files.File {
	var out []*files.File
	for _, r := range a.Repos {
		key := "/etc/apt/keyrings/" + r.Name + ".asc"
		src := files.Header("#", "apt repository "+r.Name) + fmt.Sprintf("Types: deb\nURIs: %s\nSuites: %s\nComponents: %s\nSigned-By: %s\n",
			r.URIs, r.Suites, r.Components, key)
		out = append(out,
			&files.File{Path: key, Content: r.Key, Mode: 0o644},
			&files.File{Path: "/etc/apt/sources.list.d/" + r.Name + ".sources", Content: []byte(src), Mode: 0o644})
	}
	return out
}

// Render implements resource.Renderer: the repositories' key and
// sources files.
func (a *Apt) Render() []resource.Rendered {
	var out []resource.Rendered
	for _, f := range a.repoFiles() {
		out = append(out, f.Render()...)
	}
	return out
}

// CheckApply implements resource.Resource. Under a folder root it only
// writes the repositories' files there: the machine's apt and dpkg are
// not the host's, so it never calls them.
func (a *Apt) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	folder := env.Root != "" && env.Root != "/" && a.Run == nil
	var lines []string
	reposChanged := false
	for _, f := range a.repoFiles() {
		ch, err := f.CheckApply(ctx, env, apply)
		if err != nil {
			return nil, fmt.Errorf("apt repository file %s: %w", f.Path, err)
		}
		if ch != nil {
			reposChanged = true
			lines = append(lines, fmt.Sprintf("%s %s (%s)", mark(ch.Action), f.Path, ch.Summary))
		}
	}
	if folder {
		if !reposChanged {
			return nil, nil
		}
		return a.change(nil, nil, lines), nil
	}
	have, err := a.installed(ctx, env)
	if err != nil {
		return nil, err
	}
	need, err := a.missing(have)
	if err != nil {
		return nil, err
	}
	var units []string
	for _, u := range a.Enable {
		if !enabled(env, u) {
			units = append(units, u)
		}
	}
	if len(need) == 0 && len(units) == 0 && !reposChanged {
		return nil, nil
	}
	if !apply {
		cands := a.candidates(ctx, need)
		for _, p := range need {
			lines = append(lines, "+ package "+p.Name+planned(cands, p.Name))
		}
		for _, u := range units {
			lines = append(lines, "+ enable "+u)
		}
		return a.change(need, units, lines), nil
	}
	if len(need) > 0 {
		if err := a.install(ctx, need, reposChanged); err != nil {
			return a.change(need, units, lines), err
		}
		have, err = a.installed(ctx, env)
		if err != nil {
			return nil, err
		}
		for _, p := range need {
			v, ok := have[p.Name]
			if !ok {
				return a.change(need, units, lines), fmt.Errorf("package %s (%s): apt-get finished but dpkg does not list it as installed", p.Name, p.Why)
			}
			if ok, _ := Satisfies(v, p.MinVersion); !ok {
				return a.change(need, units, lines), fmt.Errorf("package %s %s is older than %s, which %s needs: the configured repositories have nothing newer", p.Name, v, p.MinVersion, p.Why)
			}
			lines = append(lines, fmt.Sprintf("+ package %s (%s)", p.Name, v))
		}
	}
	for _, u := range units {
		if out, err := a.run(ctx, nil, "systemctl", "enable", "--now", u); err != nil {
			return a.change(need, units, lines), fmt.Errorf("enabling %s: %w: %s", u, err, lastLine(out))
		}
		lines = append(lines, "+ enable "+u)
	}
	return a.change(need, units, lines), nil
}

func (a *Apt) change(need []Package, units, lines []string) *resource.Change {
	var names []string
	for _, p := range need {
		names = append(names, p.Name)
	}
	sum := "install " + strings.Join(names, ", ")
	switch {
	case len(names) == 0 && len(units) > 0:
		sum = "enable " + strings.Join(units, ", ")
	case len(names) == 0:
		sum = "apt repositories"
	case len(units) > 0:
		sum += "; enable " + strings.Join(units, ", ")
	}
	return &resource.Change{ID: a.ID(), Subsystem: Subsystem, Action: "update", Summary: sum, Diff: strings.Join(lines, "\n") + "\n"}
}

// installed reads dpkg's status: the host's file, or through Run.
func (a *Apt) installed(ctx context.Context, env *resource.Env) (Installed, error) {
	if a.Run != nil {
		b, err := a.Run(ctx, nil, "cat", StatusFile)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", StatusFile, err)
		}
		return parseStatus(b)
	}
	have, err := ReadStatus(env.Path(StatusFile))
	if err != nil {
		return nil, fmt.Errorf("reading dpkg's status (is this a Debian host?): %w", err)
	}
	return have, nil
}

// missing lists the packages not installed or older than wanted, by name.
func (a *Apt) missing(have Installed) ([]Package, error) {
	var out []Package
	for _, p := range a.Packages {
		v, ok := have[p.Name]
		if !ok {
			out = append(out, p)
			continue
		}
		good, err := Satisfies(v, p.MinVersion)
		if err != nil {
			return nil, fmt.Errorf("package %s: %w", p.Name, err)
		}
		if !good {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// candidates asks apt-cache which version an install would bring: name
// → version, "" when the configured repositories have none (or apt
// cannot say).
func (a *Apt) candidates(ctx context.Context, need []Package) map[string]string {
	out := map[string]string{}
	if len(need) == 0 {
		return out
	}
	args := []string{"apt-cache", "policy"}
	for _, p := range need {
		args = append(args, p.Name)
	}
	b, err := a.run(ctx, aptEnv, args...)
	if err != nil {
		return out
	}
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, " ") && strings.HasSuffix(line, ":") {
			cur = strings.TrimSuffix(line, ":")
			continue
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "Candidate:"); ok && cur != "" {
			if v = strings.TrimSpace(v); v != "(none)" {
				out[cur] = v
			}
		}
	}
	return out
}

// planned is a package's plan line suffix: " (1:9.20.15-1)".
func planned(cands map[string]string, name string) string {
	if v := cands[name]; v != "" {
		return " (" + v + ")"
	}
	return " (not in the configured repositories yet)"
}

var aptEnv = []string{"DEBIAN_FRONTEND=noninteractive", "NEEDRESTART_MODE=a", "LC_ALL=C"}

// LockWait is how long apt-get waits for dpkg's lock (another apt run,
// unattended-upgrades) before it gives up.
const LockWait = 5 * time.Minute

// install runs apt-get update (when repositories changed or the lists do
// not offer a package in a good enough version), checks that every
// package has a candidate that is new enough, and only then runs one
// apt-get install; apt's failures become errors that name the package
// and the cause.
func (a *Apt) install(ctx context.Context, need []Package, update bool) error {
	t := a.Timeout
	if t == 0 {
		t = 20 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	common := []string{"-o", fmt.Sprintf("DPkg::Lock::Timeout=%d", int(LockWait.Seconds())), "-o", "Acquire::Retries=2"}
	cands := map[string]string{}
	if !update {
		// Lists that do not offer a package (a fresh image, a new
		// repository) or only an old one are refreshed first.
		cands = a.candidates(ctx, need)
		update = slices.ContainsFunc(need, func(p Package) bool { return !newEnough(cands[p.Name], p.MinVersion) })
	}
	var updateOut []byte
	if update {
		out, err := a.run(ctx, aptEnv, append(append([]string{"apt-get"}, common...), "update", "-q")...)
		if err != nil {
			return explain(ctx, need, "apt-get update", out, err)
		}
		updateOut = out
		cands = a.candidates(ctx, need)
	}
	for _, p := range need {
		c := cands[p.Name]
		switch {
		case c == "" && fetchFailed(string(updateOut)):
			return fmt.Errorf("apt-get update for %s: the package mirror cannot be reached: %s", p.Name+" ("+p.Why+")", firstMatch(string(updateOut), fetchErrors...))
		case c == "":
			return fmt.Errorf("package %s (%s) is not in the configured apt repositories", p.Name, p.Why)
		case !newEnough(c, p.MinVersion):
			return fmt.Errorf("package %s (%s) must be %s or later, but the configured apt repositories offer only %s", p.Name, p.Why, p.MinVersion, c)
		}
	}
	args := append(append([]string{"apt-get"}, common...), "install", "-y", "-q", "--no-install-recommends",
		"-o", "Dpkg::Options::=--force-confdef", "-o", "Dpkg::Options::=--force-confold")
	for _, p := range need {
		args = append(args, p.Name)
	}
	if out, err := a.run(ctx, aptEnv, args...); err != nil {
		return explain(ctx, need, "apt-get install", out, err)
	}
	return nil
}

// newEnough reports whether a candidate version meets min; an unknown
// candidate never does.
func newEnough(candidate, min string) bool {
	if candidate == "" {
		return false
	}
	v, err := parseV(candidate)
	if err != nil {
		return false
	}
	ok, err := Satisfies(v, min)
	return err == nil && ok
}

// fetchErrors are the words apt uses when a repository cannot be reached.
var fetchErrors = []string{"Failed to fetch", "Could not resolve", "Unable to connect", "Could not connect", "Temporary failure resolving"}

func fetchFailed(s string) bool {
	return slices.ContainsFunc(fetchErrors, func(k string) bool { return strings.Contains(s, k) })
}

// explain names the cause of an apt failure.
func explain(ctx context.Context, need []Package, what string, out []byte, err error) error {
	s := string(out)
	names := func() string {
		var n []string
		for _, p := range need {
			n = append(n, p.Name+" ("+p.Why+")")
		}
		return strings.Join(n, ", ")
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s for %s did not finish in time: %w", what, names(), ctx.Err())
	case strings.Contains(s, "Unable to locate package"):
		for _, p := range need {
			if strings.Contains(s, "Unable to locate package "+p.Name) {
				return fmt.Errorf("package %s (%s) is not in the configured apt repositories", p.Name, p.Why)
			}
		}
	case strings.Contains(s, "No space left on device"):
		return fmt.Errorf("%s for %s: the disk is full (No space left on device)", what, names())
	case strings.Contains(s, "held broken packages") || strings.Contains(s, "Held packages were changed"):
		return fmt.Errorf("%s for %s: held or broken packages stand in the way: %s", what, names(), lastLine(out))
	case fetchFailed(s):
		return fmt.Errorf("%s for %s: the package mirror cannot be reached: %s", what, names(), firstMatch(s, fetchErrors...))
	case strings.Contains(s, "Could not get lock"):
		return fmt.Errorf("%s for %s: another package manager holds dpkg's lock: %s", what, names(), lastLine(out))
	}
	return fmt.Errorf("%s for %s: %w: %s", what, names(), err, lastLine(out))
}

func (a *Apt) run(ctx context.Context, env []string, argv ...string) ([]byte, error) {
	if a.Run != nil {
		return a.Run(ctx, env, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(minimalEnv(), env...)
	cmd.WaitDelay = 10 * time.Second
	return cmd.CombinedOutput()
}

// minimalEnv is the agent's environment without its own variables.
func minimalEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "HOMELAB_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// enabled reports whether a unit is enabled: a link to it in a .wants
// folder of /etc/systemd/system (no systemctl call).
func enabled(env *resource.Env, unit string) bool {
	m, _ := filepath.Glob(env.Path("/etc/systemd/system/*.wants/" + unit))
	return len(m) > 0
}

func higher(a, b string) bool {
	va, err1 := parseV(a)
	vb, err2 := parseV(b)
	if err1 != nil || err2 != nil {
		return false
	}
	return compare(va, vb) > 0
}

func mark(action string) string {
	switch action {
	case "create":
		return "+"
	case "delete":
		return "-"
	}
	return "~"
}

func lastLine(b []byte) string {
	lines := slices.DeleteFunc(strings.Split(strings.TrimSpace(string(b)), "\n"), func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(lines) == 0 {
		return ""
	}
	return strings.TrimSpace(lines[len(lines)-1])
}

func firstMatch(s string, keys ...string) string {
	for _, line := range strings.Split(s, "\n") {
		for _, k := range keys {
			if strings.Contains(line, k) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}
