package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// run runs the CLI in-process with stdin and returns stdout, stderr and the error.
func run(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot(&out, &errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errb.String(), err
}

// TestBackupCommands runs backup, snapshots and restore (asked and
// refused, then with --yes) against restic and an S3 server on loopback.
func TestBackupCommands(t *testing.T) {
	if _, err := backup.FindRestic(); err != nil {
		testreq.Missing(t, "%v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server()}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	lab := t.TempDir()
	os.WriteFile(filepath.Join(lab, "homelab.yaml"), []byte(`domain: home.example
network: {cidr: 192.168.100.0/24, gateway: 192.168.100.1}
proxy: {acme_email: admin@home.example, dns_provider: cloudflare}
backup:
  repository: s3:http://`+ln.Addr().String()+`/lab
  init: true
  keep: {daily: 7}
hosts:
  proxy: {ip: 192.168.100.3, role: traefik}
  cloud: {ip: 192.168.100.10, role: nextcloud}
`), 0o644)
	root := t.TempDir()
	t.Setenv("HOMELAB_SECRET_RESTIC_PASSWORD", "pw-for-cli-test")
	t.Setenv("HOMELAB_SECRET_AWS_ACCESS_KEY_ID", "key")
	t.Setenv("HOMELAB_SECRET_AWS_SECRET_ACCESS_KEY", "secret-for-cli-test")
	data := filepath.Join(root, "srv/data/nextcloud")
	os.MkdirAll(data, 0o750)
	os.WriteFile(filepath.Join(data, "config.php"), []byte("v1"), 0o640)
	host := []string{"--host", "cloud", "--repo", lab, "--root", root}

	out, errOut, err := run(t, "", append([]string{"backup"}, host...)...)
	if err != nil || !strings.Contains(out, "nextcloud: snapshot ") {
		t.Fatalf("backup: %v\n%s%s", err, out, errOut)
	}
	out, _, err = run(t, "", append([]string{"snapshots", "--json"}, host...)...)
	var snaps []backup.Snapshot
	if err != nil || json.Unmarshal([]byte(out), &snaps) != nil || len(snaps) != 1 || snaps[0].Service() != "nextcloud" {
		t.Fatalf("snapshots --json: %v\n%s", err, out)
	}
	out, _, _ = run(t, "", append([]string{"snapshots"}, host...)...)
	if !strings.Contains(out, snaps[0].ShortID) || !strings.Contains(out, "files") {
		t.Errorf("snapshots table:\n%s", out)
	}
	if _, _, err := run(t, "", append([]string{"backup", "--service", "immich"}, host...)...); err == nil || !strings.Contains(err.Error(), `no service "immich"`) {
		t.Errorf("unknown service: %v", err)
	}

	os.WriteFile(filepath.Join(data, "config.php"), []byte("v2"), 0o640)
	out, _, err = run(t, "n\n", append([]string{"restore"}, host...)...)
	if err == nil || !strings.Contains(out, "Proceed? [y/N]") || !strings.Contains(out, "restore nextcloud from snapshot "+snaps[0].ShortID) {
		t.Fatalf("refused restore: err=%v\n%s", err, out)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "config.php")); string(b) != "v2" {
		t.Fatal("a refused restore changed the data")
	}
	out, errOut, err = run(t, "", append([]string{"restore", "--yes", "--snapshot", snaps[0].ShortID}, host...)...)
	if err != nil || !strings.Contains(out, "restored nextcloud from snapshot") || !strings.Contains(out, "rm -rf ") {
		t.Fatalf("restore --yes: %v\n%s%s", err, out, errOut)
	}
	if b, _ := os.ReadFile(filepath.Join(data, "config.php")); string(b) != "v1" {
		t.Errorf("restored config.php = %q", b)
	}
	pre, _ := filepath.Glob(filepath.Join(root, "srv/data/nextcloud.pre-restore-*", "config.php"))
	if len(pre) != 1 {
		t.Errorf("pre-restore copy: %v", pre)
	}
	for _, s := range []string{out, errOut} {
		if strings.Contains(s, "pw-for-cli-test") || strings.Contains(s, "secret-for-cli-test") {
			t.Errorf("output holds a secret: %s", s)
		}
	}
}
