package backup

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/homelab-agent/homelab-agent/agent/files"
	"github.com/homelab-agent/homelab-agent/agent/packages"
	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Subsystem is the name --only uses for the backup subsystem.
const Subsystem = "backup"

// ScheduleFile is where the host's backup schedule is written for people
// (and for plan's diff): what the daemon's scheduler runs, without secrets.
const ScheduleFile = "/var/lib/homelab-agent/backup-schedule.yaml"

// Schedule is the backup:schedule resource: the host's schedule as a small
// YAML file, so that plan shows a schedule change as a diff. A host
// without backups wants the file absent (it is removed when backups are
// turned off). It writes only ScheduleFile under the root.
type Schedule struct {
	// Content is the file's bytes; nil means the file must be absent.
	Content []byte
}

var (
	_ resource.Resource = (*Schedule)(nil)
	_ resource.Renderer = (*Schedule)(nil)
	_ packages.Needer   = (*Schedule)(nil)
)

// Restic is the package backups need: 0.17 or later (Debian 13 ships
// 0.18), for the flags the runner passes.
var Restic = packages.Package{Name: "restic", MinVersion: "0.17", Why: "backups"}

// PackageNeeds implements packages.Needer: a host with backups needs restic.
func (s *Schedule) PackageNeeds() packages.Needs {
	if s.Content == nil {
		return packages.Needs{}
	}
	return packages.Needs{Packages: []packages.Package{Restic}}
}

// ScheduleOf returns the host's backup:schedule resource for its jobs
// (Jobs of the host's config). It is pure.
func ScheduleOf(cfg Config, jobs []Job) *Schedule {
	if !cfg.Enabled() || len(jobs) == 0 {
		return &Schedule{}
	}
	return &Schedule{Content: RenderSchedule(cfg, jobs)}
}

// ID implements resource.Resource.
func (s *Schedule) ID() string { return "backup:schedule" }

// Subsystem implements resource.Resource.
func (s *Schedule) Subsystem() string { return Subsystem }

// Render implements resource.Renderer.
func (s *Schedule) Render() []resource.Rendered {
	if s.Content == nil {
		return nil
	}
	return (&files.File{Path: ScheduleFile, Content: s.Content, Mode: 0o644}).Render()
}

// CheckApply implements resource.Resource: the file's content (with a
// diff) through the file resource, or its removal.
func (s *Schedule) CheckApply(ctx context.Context, env *resource.Env, apply bool) (*resource.Change, error) {
	var r resource.Resource = &files.Absent{Path: ScheduleFile}
	if s.Content != nil {
		r = &files.File{Path: ScheduleFile, Content: s.Content, Mode: 0o644}
	}
	ch, err := r.CheckApply(ctx, env, apply)
	if ch != nil {
		ch.ID, ch.Subsystem = s.ID(), s.Subsystem()
		if s.Content == nil {
			ch.Summary = "delete " + ScheduleFile + " (the host has no backups any more)"
		} else {
			ch.Summary = strings.Replace(ch.Summary, "create", "create "+ScheduleFile, 1)
		}
	}
	return ch, err
}

var userInfo = regexp.MustCompile(`://[^/@]*@`)

// DisplayRepo is the repository as people may see it: credentials in a
// URL are dropped and ${secret:NAME} references shown as <secret NAME>.
func DisplayRepo(repo string) string {
	d := userInfo.ReplaceAllString(repo, "://")
	return secrets.ReplaceRefs(d, func(name string) string { return "<secret " + name + ">" })
}

// RenderSchedule renders the schedule file: repository (no secrets),
// schedules, the host's delay, the keep policy and each service's paths,
// quiesce step and dumps. It is pure.
func RenderSchedule(c Config, jobs []Job) []byte {
	var b strings.Builder
	b.WriteString(files.Header("#", "backup-schedule.yaml"))
	fmt.Fprintf(&b, "# What the agent's scheduler runs on %s. Secrets are never written here.\n", c.Host)
	q := func(s string) string { return fmt.Sprintf("%q", s) }
	fmt.Fprintf(&b, "repository: %s\n", q(DisplayRepo(c.Repository)))
	fmt.Fprintf(&b, "schedule: %s\n", q(c.Schedule))
	fmt.Fprintf(&b, "host_delay: %s  # fixed for this host, below random_delay %s\n", HostDelay(c.Host, c.RandomDelay), c.RandomDelay)
	fmt.Fprintf(&b, "prune_schedule: %s\n", q(c.PruneSchedule))
	fmt.Fprintf(&b, "check_schedule: %s\ncheck_subset: %s\n", q(c.CheckSchedule), q(c.CheckSubset))
	b.WriteString("keep: {")
	sep := ""
	for _, k := range []struct {
		name string
		n    int
	}{{"last", c.Keep.Last}, {"hourly", c.Keep.Hourly}, {"daily", c.Keep.Daily}, {"weekly", c.Keep.Weekly}, {"monthly", c.Keep.Monthly}, {"yearly", c.Keep.Yearly}} {
		if k.n > 0 {
			fmt.Fprintf(&b, "%s%s: %d", sep, k.name, k.n)
			sep = ", "
		}
	}
	b.WriteString("}\n")
	fmt.Fprintf(&b, "init: %t\nauto_restore: %t\n", c.Init, c.AutoRestore)
	if c.NotifyURL != "" {
		fmt.Fprintf(&b, "notify: %s\n", q(notifyHost(c.NotifyURL)))
	}
	b.WriteString("services:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, "  %s:\n    paths: [%s]\n", j.Service, strings.Join(j.Paths, ", "))
		if len(j.Excludes) > 0 {
			fmt.Fprintf(&b, "    excludes: [%s]\n", strings.Join(j.Excludes, ", "))
		}
		if j.Declared.Quiesce != nil {
			b.WriteString("    quiesce: true\n")
		}
		if d := j.Declared.Dump; d != nil {
			fmt.Fprintf(&b, "    dumps: [%s]\n", d.DumpName())
		}
	}
	return []byte(b.String())
}

// notifyHost shows only where notifications go: the URL's path and query
// may hold a token.
func notifyHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || strings.Contains(u.Host, "${") {
		return "(set)"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// NextRun is the first run of a cron schedule shifted by delay after t.
func NextRun(expr string, delay time.Duration, t time.Time) (time.Time, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return time.Time{}, err
	}
	return slot(s, delay, t), nil
}

// ScheduleInterval is a cron schedule's period around t.
func ScheduleInterval(expr string, t time.Time) (time.Duration, error) {
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return 0, err
	}
	return Interval(s, t), nil
}
