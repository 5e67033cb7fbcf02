package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// TestExitCodes maps every documented restic exit code to its kind, and
// unknown codes to a failure; messages never hold a secret.
func TestExitCodes(t *testing.T) {
	r := &Repo{display: "s3:https://s3.example/b", endpoint: "s3.example:443", secrets: secrets.FromMap(map[string]string{"RESTIC_PASSWORD": "hunter2"})}
	for code, want := range map[int]Kind{1: KindFailed, 3: KindIncomplete, 10: KindNoRepository, 11: KindLocked, 12: KindPassword, 130: KindInterrupted, 42: KindFailed, -1: KindFailed} {
		e := r.newError("backup x", code, "detail with hunter2\nsecond line")
		if e.Kind != want {
			t.Errorf("code %d: kind %s, want %s", code, e.Kind, want)
		}
		if strings.Contains(e.Error(), "hunter2") || strings.Contains(e.Error(), "\n") {
			t.Errorf("code %d: message %q", code, e.Error())
		}
	}
	if e := r.newError("x", 42, ""); !strings.Contains(e.Msg, "unexpected status 42") {
		t.Errorf("unknown code message %q", e.Msg)
	}
	if e := r.newError("x", 1, "dial tcp 1.2.3.4:443: connect: connection refused"); e.Kind != KindUnreachable {
		t.Errorf("connection refused: kind %s", e.Kind)
	}
}

// TestResticVersion refuses a restic older than 0.17.
func TestResticVersion(t *testing.T) {
	dir := t.TempDir()
	for v, ok := range map[string]bool{"0.16.4": false, "0.17.0": true, "0.18.1": true, "1.0.0": true} {
		bin := filepath.Join(dir, "restic-"+v)
		os.WriteFile(bin, []byte("#!/bin/sh\necho '{\"message_type\":\"version\",\"version\":\""+v+"\"}'\n"), 0o755)
		err := checkVersion(context.Background(), bin)
		if (err == nil) != ok {
			t.Errorf("restic %s: err = %v", v, err)
		}
	}
	bin := filepath.Join(dir, "old")
	os.WriteFile(bin, []byte("#!/bin/sh\necho 'restic 0.9.6 compiled with go1.13'\n"), 0o755)
	if err := checkVersion(context.Background(), bin); err == nil || !strings.Contains(err.Error(), "0.17") {
		t.Errorf("pre-JSON restic: err = %v", err)
	}
}

func TestDescribeRepo(t *testing.T) {
	for in, want := range map[string][2]string{
		"s3:https://s3.us-west-004.backblazeb2.com/lab": {"s3:https://s3.us-west-004.backblazeb2.com/lab", "s3.us-west-004.backblazeb2.com:443"},
		"s3:http://127.0.0.1:9000/b":                    {"s3:http://127.0.0.1:9000/b", "127.0.0.1:9000"},
		"s3:s3.amazonaws.com/bucket":                    {"s3:s3.amazonaws.com/bucket", "s3.amazonaws.com:443"},
		"rest:https://user:pw@backup.lan:8000/repo":     {"rest:https://backup.lan:8000/repo", "backup.lan:8000"},
		"/srv/restic": {"/srv/restic", ""},
	} {
		d, e := describeRepo(in)
		if d != want[0] || e != want[1] {
			t.Errorf("describeRepo(%q) = %q, %q; want %q", in, d, e, want)
		}
	}
}

// TestJobsFromDeclaredServices: one job per declared service, on the
// service's data folder with its excludes; none when backups are off.
func TestJobsFromDeclaredServices(t *testing.T) {
	svcs := []Service{{Name: "notes"}, {Name: "photos", Excludes: []string{"postgres"}}}
	if jobs := Jobs(Config{Host: "h"}, svcs); jobs != nil {
		t.Errorf("jobs without a repository = %v", jobs)
	}
	jobs := Jobs(Config{Host: "h", Repository: "s3:x"}, svcs)
	if len(jobs) != 2 || jobs[0].Service != "notes" || jobs[0].Host != "h" || !slices.Equal(jobs[0].Paths, []string{"/srv/data/notes"}) ||
		!slices.Equal(jobs[1].Excludes, []string{"postgres"}) || jobs[1].Declared.Name != "photos" {
		t.Errorf("jobs = %+v", jobs)
	}
	if rs := SelfRestores(Config{Host: "h", Repository: "s3:x", AutoRestore: true}, jobs[:1]); len(rs) != 1 || rs[0].ID() != "restore:notes" || rs[0].Subsystem() != "containers" {
		t.Errorf("self-restore resources = %v", rs)
	}
	if rs := SelfRestores(Config{Host: "h", Repository: "s3:x"}, jobs); rs != nil {
		t.Errorf("self-restores with auto_restore off = %v", rs)
	}
}

// TestLabBackupKeys checks the new homelab.yaml keys' errors and positions.
func TestLabBackupKeys(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "homelab.yaml"), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
backup:
  repository: s3:https://s3.example/b
  prune_schedule: "every sunday"
  check_schedule: "0 6 * * 0"
  check_subset: lots
  random_delay: 2 days
hosts:
  cloud: {ip: 192.168.100.10, role: nextcloud}
`), 0o644)
	_, err := lab.Load(dir, lab.Options{})
	var errs *lab.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	msg := err.Error()
	for _, want := range []string{
		`homelab.yaml:5:19: invalid cron expression "every sunday"`,
		`homelab.yaml:7:17: invalid check_subset "lots"`,
		`homelab.yaml:8:17: invalid random_delay "2 days"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "check_schedule") || strings.Contains(msg, ":6:") {
		t.Errorf("a valid key was reported:\n%s", msg)
	}
}
