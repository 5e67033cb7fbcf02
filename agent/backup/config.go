package backup

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// Defaults for keys homelab.yaml may leave out.
const (
	DefaultSchedule      = "0 3 * * *"
	DefaultPruneSchedule = "0 5 * * 0" // Sundays 05:00
	DefaultCheckSchedule = "0 6 * * 0" // Sundays 06:00, after prune
	DefaultCheckSubset   = "5%"
	DefaultRandomDelay   = 30 * time.Minute
)

// Secret names the backup subsystem reads from the host's secrets store.
const (
	SecretPassword  = "RESTIC_PASSWORD"
	SecretAccessKey = "AWS_ACCESS_KEY_ID"
	SecretSecretKey = "AWS_SECRET_ACCESS_KEY"
)

// Config is one host's backup settings, resolved from the lab.
type Config struct {
	Host string
	// Root prefixes every host path ("/" on a real host).
	Root string
	// Repository is restic's repository string as homelab.yaml writes it;
	// it may hold ${secret:NAME} references.
	Repository string
	Keep       lab.Keep
	// Init lets the agent create a missing repository.
	Init        bool
	AutoRestore bool
	NotifyURL   string
	// Schedule, PruneSchedule and CheckSchedule are cron expressions.
	Schedule, PruneSchedule, CheckSchedule string
	CheckSubset                            string
	// RandomDelay bounds the host's fixed delay after each scheduled time.
	RandomDelay time.Duration
}

// Enabled reports whether the lab configures backups at all.
func (c Config) Enabled() bool { return c.Repository != "" }

// ConfigFor resolves a host's backup settings from the lab: the host's
// schedule overrides the lab's, and unset keys take the defaults above.
// It is pure.
func ConfigFor(l *lab.Lab, host, root string) (Config, error) {
	h := l.Hosts.Get(host)
	if h == nil {
		return Config{}, fmt.Errorf("host %q is not in %s", host, lab.LabFile)
	}
	b := l.Backup
	c := Config{
		Host: host, Root: root, Repository: b.Repository, Keep: b.Keep, Init: b.Init,
		AutoRestore: b.AutoRestore == nil || *b.AutoRestore, NotifyURL: b.NotifyURL,
		Schedule: or(b.Schedule, DefaultSchedule), PruneSchedule: or(b.PruneSchedule, DefaultPruneSchedule),
		CheckSchedule: or(b.CheckSchedule, DefaultCheckSchedule), CheckSubset: or(b.CheckSubset, DefaultCheckSubset),
		RandomDelay: DefaultRandomDelay,
	}
	if c.Root == "" {
		c.Root = "/"
	}
	if h.Backup != nil && h.Backup.Schedule != "" {
		c.Schedule = h.Backup.Schedule
	}
	if b.RandomDelay != "" {
		d, err := time.ParseDuration(b.RandomDelay)
		if err != nil {
			return Config{}, fmt.Errorf("backup.random_delay: %w", err)
		}
		c.RandomDelay = d
	}
	for _, s := range []string{c.Schedule, c.PruneSchedule, c.CheckSchedule} {
		if _, err := cron.ParseStandard(s); err != nil {
			return Config{}, fmt.Errorf("backup schedule %q: %w", s, err)
		}
	}
	return c, nil
}

// SecretNames lists the secrets the host's backups need.
func (c Config) SecretNames() []string {
	if !c.Enabled() {
		return nil
	}
	names := []string{SecretPassword}
	if strings.HasPrefix(c.Repository, "s3:") {
		names = append(names, SecretAccessKey, SecretSecretKey)
	}
	return names
}

// keepArgs turns the keep policy into restic forget flags.
func keepArgs(k lab.Keep) []string {
	var args []string
	for _, x := range []struct {
		flag string
		n    int
	}{{"--keep-last", k.Last}, {"--keep-hourly", k.Hourly}, {"--keep-daily", k.Daily}, {"--keep-weekly", k.Weekly}, {"--keep-monthly", k.Monthly}, {"--keep-yearly", k.Yearly}} {
		if x.n > 0 {
			args = append(args, x.flag, fmt.Sprint(x.n))
		}
	}
	return args
}

func or(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
