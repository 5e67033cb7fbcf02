package packages

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/internal/debimage"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// aptImage is a plain Debian 13: dpkg and apt, nothing the tests install.
var aptImage = debimage.Recipe{Name: "homelab-agent-test/apt", Suite: "trixie"}

// insideEnv names the scenario the test binary runs when it is started
// inside the Debian container (TestMain), instead of the tests.
const insideEnv = "HOMELAB_APT_SCENARIO"

func TestMain(m *testing.M) {
	if name := os.Getenv(insideEnv); name != "" {
		os.Exit(runInside(name))
	}
	os.Exit(m.Run())
}

// insideScenarios run in order in one container, as root, with the real
// dpkg and apt against Debian's mirror: the resource is the one a host
// runs (no Run hook, root "/").
var insideScenarios = []struct {
	name string
	f    func(ctx context.Context) error
}{
	{"unknown package", func(ctx context.Context) error {
		_, err := apply(ctx, Package{Name: "hla-no-such-package", Why: "test"})
		return wantErr(err, "package hla-no-such-package (test) is not in the configured apt repositories")
	}},
	{"version too old", func(ctx context.Context) error {
		_, err := apply(ctx, Package{Name: "hello", MinVersion: "99", Why: "test"})
		if err := wantErr(err, "package hello (test) must be 99 or later, but the configured apt repositories offer only 2."); err != nil {
			return err
		}
		return installed("hello", false)
	}},
	{"install", func(ctx context.Context) error {
		a := &Apt{Packages: []Package{{Name: "hello", MinVersion: "2.10", Why: "test"}}}
		ch, err := a.CheckApply(ctx, &resource.Env{Root: "/"}, false)
		if err != nil || ch == nil || !strings.Contains(ch.Diff, "+ package hello (2.") {
			return fmt.Errorf("plan: %+v %v", ch, err)
		}
		if err := installed("hello", false); err != nil {
			return fmt.Errorf("plan installed it: %w", err)
		}
		if ch, err = a.CheckApply(ctx, &resource.Env{Root: "/"}, true); err != nil || ch == nil {
			return fmt.Errorf("apply: %+v %v", ch, err)
		}
		if err := installed("hello", true); err != nil {
			return err
		}
		out, err := exec.Command("hello").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Hello, world!") {
			return fmt.Errorf("hello: %v %s", err, out)
		}
		return nil
	}},
	{"second pass calls no apt", func(ctx context.Context) error {
		// Every package tool is shadowed by a trap that leaves a mark.
		trap, mark := "/tmp/trap", "/tmp/trap-called"
		os.MkdirAll(trap, 0o755)
		for _, tool := range []string{"apt-get", "apt-cache", "apt", "dpkg", "dpkg-query", "systemctl"} {
			script := "#!/bin/sh\necho \"$0 $*\" >>" + mark + "\nexit 1\n"
			if err := os.WriteFile(filepath.Join(trap, tool), []byte(script), 0o755); err != nil {
				return err
			}
		}
		os.Setenv("PATH", trap+":"+os.Getenv("PATH"))
		for _, doApply := range []bool{false, true} {
			a := &Apt{Packages: []Package{{Name: "hello", MinVersion: "2.10", Why: "test"}}}
			if ch, err := a.CheckApply(ctx, &resource.Env{Root: "/"}, doApply); err != nil || ch != nil {
				return fmt.Errorf("pass (apply %v): %+v %v", doApply, ch, err)
			}
		}
		if b, err := os.ReadFile(mark); err == nil {
			return fmt.Errorf("the second pass ran: %s", b)
		}
		return nil
	}},
	{"security updates config", func(ctx context.Context) error {
		// The package's own conffile comes first and allows every
		// Debian update; the agent's file must win.
		pkgConf := "Unattended-Upgrade::Origins-Pattern {\n\t\"origin=Debian,codename=${distro_codename},label=Debian\";\n};\n"
		if err := os.WriteFile("/etc/apt/apt.conf.d/50unattended-upgrades", []byte(pkgConf), 0o644); err != nil {
			return err
		}
		_, f := Updates("security")
		if err := os.WriteFile(f.Path, f.Content, 0o644); err != nil {
			return err
		}
		out, err := exec.CommandContext(ctx, "apt-config", "dump").CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-config: %v %s", err, out)
		}
		var got []string
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "Unattended-Upgrade::Origins-Pattern") || strings.HasPrefix(line, "APT::Periodic::Unattended-Upgrade ") {
				got = append(got, line)
			}
		}
		want := []string{
			`APT::Periodic::Unattended-Upgrade "1";`,
			`Unattended-Upgrade::Origins-Pattern "";`,
			`Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename}-security,label=Debian-Security";`,
			`Unattended-Upgrade::Origins-Pattern:: "origin=Debian,codename=${distro_codename},label=Debian-Security";`,
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Errorf("apt-config dump:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		return nil
	}},
	{"unreachable mirror", func(ctx context.Context) error {
		sources := "deb http://127.0.0.1:1/debian trixie main\n"
		if err := os.WriteFile("/etc/apt/sources.list", []byte(sources), 0o644); err != nil {
			return err
		}
		os.RemoveAll("/etc/apt/sources.list.d")
		lists, _ := filepath.Glob("/var/lib/apt/lists/*_*")
		for _, l := range lists {
			os.Remove(l)
		}
		_, err := apply(ctx, Package{Name: "cowsay", Why: "test"})
		if err := wantErr(err, "cowsay (test)"); err != nil {
			return err
		}
		return wantErr(err, "the package mirror cannot be reached")
	}},
}

// systemdImage boots systemd as PID 1, with cron installed but (in the
// scenario) disabled: the unit the resource must enable.
var systemdImage = debimage.Recipe{Name: "homelab-agent-test/apt-systemd", Suite: "trixie",
	Packages: []string{"systemd", "systemd-sysv", "dbus", "cron"},
	Changes:  []string{`CMD ["/lib/systemd/systemd"]`}}

// systemdScenarios run in a container of systemdImage.
var systemdScenarios = []struct {
	name string
	f    func(ctx context.Context) error
}{
	{"enable a unit", func(ctx context.Context) error {
		if out, err := exec.CommandContext(ctx, "systemctl", "disable", "--now", "cron.service").CombinedOutput(); err != nil {
			return fmt.Errorf("systemctl disable: %v %s", err, out)
		}
		a := &Apt{Packages: []Package{{Name: "cron", Why: "test"}}, Enable: []string{"cron.service"}}
		ch, err := a.CheckApply(ctx, &resource.Env{Root: "/"}, false)
		if err != nil || ch == nil || ch.Summary != "enable cron.service" {
			return fmt.Errorf("plan: %+v %v", ch, err)
		}
		if ch, err = a.CheckApply(ctx, &resource.Env{Root: "/"}, true); err != nil || ch == nil {
			return fmt.Errorf("apply: %+v %v", ch, err)
		}
		for _, verb := range []string{"is-enabled", "is-active"} {
			if out, err := exec.CommandContext(ctx, "systemctl", verb, "cron.service").CombinedOutput(); err != nil {
				return fmt.Errorf("systemctl %s cron: %v %s", verb, err, out)
			}
		}
		if ch, err = a.CheckApply(ctx, &resource.Env{Root: "/"}, true); err != nil || ch != nil {
			return fmt.Errorf("second pass: %+v %v", ch, err)
		}
		return nil
	}},
}

func apply(ctx context.Context, p Package) (*resource.Change, error) {
	return (&Apt{Packages: []Package{p}, Timeout: 5 * time.Minute}).CheckApply(ctx, &resource.Env{Root: "/"}, true)
}

func wantErr(err error, want string) error {
	if err == nil {
		return fmt.Errorf("no error, want %q", want)
	}
	if !strings.Contains(err.Error(), want) {
		return fmt.Errorf("error %q, want %q", err, want)
	}
	fmt.Println("error:", err)
	return nil
}

func installed(name string, want bool) error {
	have, err := ReadStatus(StatusFile)
	if err != nil {
		return err
	}
	if _, ok := have[name]; ok != want {
		return fmt.Errorf("dpkg lists %s as installed: %v, want %v", name, ok, want)
	}
	return nil
}

func runInside(name string) int {
	for _, s := range append(insideScenarios, systemdScenarios...) {
		if s.name != name {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		if err := s.f(ctx); err != nil {
			fmt.Println("FAIL:", err)
			return 1
		}
		fmt.Println("ok")
		return 0
	}
	fmt.Println("FAIL: no scenario", name)
	return 2
}

// TestAptOnDebian runs the resource against a real dpkg and apt: this
// test binary is started inside a Debian 13 container (image built with
// debootstrap and cached) that reaches Debian's mirror, once per
// scenario, in order.
func TestAptOnDebian(t *testing.T) {
	name := startWithThisBinary(t, aptImage, "hla-apt-test", nil)
	for _, s := range insideScenarios {
		ok := t.Run(s.name, func(t *testing.T) {
			start := time.Now()
			out, passed := inside(t, name, s.name)
			t.Logf("%s in %s: %s", s.name, time.Since(start).Round(100*time.Millisecond), out)
			if !passed {
				t.Fatal(out)
			}
		})
		if !ok {
			return // later scenarios build on earlier ones
		}
	}
}

// TestAptEnablesUnits runs the resource in a container that boots
// systemd: a disabled unit is enabled and started with systemctl, and the
// next pass finds it enabled without asking systemctl.
func TestAptEnablesUnits(t *testing.T) {
	name := startWithThisBinary(t, systemdImage, "hla-apt-systemd-test", []string{"/lib/systemd/systemd"},
		"--cap-add", "SYS_ADMIN", "--cgroupns=host", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
		"--tmpfs", "/run", "--tmpfs", "/run/lock", "--stop-signal", "SIGRTMIN+3")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, _ := exec.Command("docker", "exec", name, "systemctl", "is-system-running").CombinedOutput()
		if s := strings.TrimSpace(string(out)); s == "running" || s == "degraded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd did not boot: %s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, s := range systemdScenarios {
		if out, passed := inside(t, name, s.name); !passed {
			t.Fatalf("%s: %s", s.name, out)
		}
	}
}

// startWithThisBinary starts a container of the recipe's image (built
// and cached) with this test binary mounted at /hla-packages.test.
func startWithThisBinary(t *testing.T, r debimage.Recipe, prefix string, cmd []string, args ...string) string {
	t.Helper()
	testreq.Tool(t, "docker")
	img := debimage.Build(t, r)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return debimage.Start(t, img, prefix, cmd, append(args, "-v", exe+":/hla-packages.test:ro")...)
}

// inside runs one scenario in the container; it returns the output and
// whether the scenario passed.
func inside(t *testing.T, container, scenario string) (string, bool) {
	t.Helper()
	out, err := exec.Command("docker", "exec", "-e", insideEnv+"="+scenario, container, "/hla-packages.test").CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("docker exec: %v\n%s", err, out)
	}
	return string(out), err == nil && strings.HasSuffix(strings.TrimSpace(string(out)), "ok")
}
