package nextcloud_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/docker"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/rotate"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
	"github.com/homelab-agent/homelab-agent/roles/nextcloud"
	"github.com/homelab-agent/homelab-agent/roles/rolestest"
)

// TestDBPasswordRotation runs on a real PostgreSQL: a changed
// NEXTCLOUD_DB_PASSWORD is planned as "secret NEXTCLOUD_DB_PASSWORD
// changed (rotate: ALTER ROLE nextcloud)" without a value, applied with
// ALTER ROLE before the containers are recreated (the new password logs
// in over TCP, the old one no longer does, the app gets the new one). With
// the database down the rotation fails: the containers keep the old value,
// which still logs in, and the error says so.
func TestDBPasswordRotation(t *testing.T) {
	rolestest.Standins(t, []string{nextcloud.Project}, images...)
	l := rolestest.Lab(t, hosts, nil)
	root := t.TempDir()
	first := maps.Clone(rolestest.Secrets)
	if _, err := rolestest.PassSecrets(t, l, "cloud", root, true, first); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	cli := dockertest.Client(t)
	if err := docker.Exec(ctx, cli, nextcloud.Project, nextcloud.Database, "", []string{"psql", "--version"}, nil); err != nil {
		testreq.Missing(t, "the database image is a stand-in, not PostgreSQL: this test needs the real PostgreSQL test image (branch realdb's agent/docker/dockertest/databases.go): %v", err)
	}
	login := func(pw string) error {
		// Over TCP to the container's own network address, so that the
		// password is checked (the socket and 127.0.0.1 are trusted, as in
		// the official image).
		return docker.Exec(ctx, cli, nextcloud.Project, nextcloud.Database, "", []string{"sh", "-c",
			`ip=$(hostname -i | cut -d' ' -f1); PGPASSWORD="$1" psql -X -h "$ip" -U nextcloud -d nextcloud -c 'select 1'`, "sh", pw}, nil)
	}
	waitLogin(t, login, first["NEXTCLOUD_DB_PASSWORD"])

	second := maps.Clone(first)
	second["NEXTCLOUD_DB_PASSWORD"] = "rotated 'pw' LeakCanary-2"
	plan, err := rolestest.PassSecrets(t, l, "cloud", root, false, second)
	if err != nil {
		t.Fatal(err)
	}
	text := rolestest.Text(plan)
	if !strings.Contains(text, "~ rotate:NEXTCLOUD_DB_PASSWORD: secret NEXTCLOUD_DB_PASSWORD changed (rotate: ALTER ROLE nextcloud)") {
		t.Fatalf("plan:\n%s", text)
	}
	if strings.Contains(text, "LeakCanary") || strings.Contains(text, first["NEXTCLOUD_DB_PASSWORD"]) {
		t.Fatalf("a value in the plan:\n%s", text)
	}
	rep, err := rolestest.PassSecrets(t, l, "cloud", root, true, second)
	if err != nil {
		t.Fatalf("rotation: %v\n%s", err, rolestest.Text(rep))
	}
	if err := login(second["NEXTCLOUD_DB_PASSWORD"]); err != nil {
		t.Fatalf("the new password does not log in: %v", err)
	}
	if err := login(first["NEXTCLOUD_DB_PASSWORD"]); err == nil {
		t.Fatal("the old password still logs in")
	}
	if env := appEnv(t); !slices.Contains(env, "POSTGRES_PASSWORD="+second["NEXTCLOUD_DB_PASSWORD"]) {
		t.Fatal("the app did not get the new password")
	}

	// The database is down: the rotation fails and nothing is recreated.
	if err := docker.Stop(ctx, cli, nextcloud.Project, nextcloud.Database); err != nil {
		t.Fatal(err)
	}
	third := maps.Clone(second)
	third["NEXTCLOUD_DB_PASSWORD"] = "third-LeakCanary-3"
	rep, err = rolestest.PassSecrets(t, l, "cloud", root, true, third)
	if err == nil || !strings.Contains(err.Error(), "rotating secret NEXTCLOUD_DB_PASSWORD (ALTER ROLE nextcloud) failed; the old value still works") {
		t.Fatalf("failed rotation: %v\n%s", err, rolestest.Text(rep))
	}
	if strings.Contains(err.Error()+rolestest.Text(rep), "LeakCanary") {
		t.Fatalf("a value in the failure:\n%v\n%s", err, rolestest.Text(rep))
	}
	if env := appEnv(t); !slices.Contains(env, "POSTGRES_PASSWORD="+second["NEXTCLOUD_DB_PASSWORD"]) {
		t.Fatal("a failed rotation recreated the app with the new value")
	}
	if b, _ := os.ReadFile(filepath.Join(root, rotate.Dir, "NEXTCLOUD_DB_PASSWORD")); string(b) != second["NEXTCLOUD_DB_PASSWORD"] {
		t.Fatal("a failed rotation changed the remembered value")
	}
	if err := docker.Start(ctx, cli, nextcloud.Project, nextcloud.Database); err != nil {
		t.Fatal(err)
	}
	waitLogin(t, login, second["NEXTCLOUD_DB_PASSWORD"])
}

func appEnv(t *testing.T) []string {
	t.Helper()
	app, err := dockertest.Client(t).ContainerInspect(context.Background(), "nextcloud-app-1")
	if err != nil {
		t.Fatal(err)
	}
	return app.Config.Env
}

// waitLogin waits until PostgreSQL accepts the password over TCP.
func waitLogin(t *testing.T, login func(string) error, pw string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := login(pw)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("PostgreSQL does not accept the password: %v", err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestAdminPasswordRotation: a changed NEXTCLOUD_ADMIN_PASSWORD is planned
// as "secret NEXTCLOUD_ADMIN_PASSWORD changed (rotate: occ
// user:resetpassword admin)" without a value and applied with occ in the
// app container before the app is recreated (the occ stand-in records the
// password it was given in OC_PASS, hashed, as the real one hashes it into
// the database). With the app down the rotation fails: the containers and
// the remembered value keep the old one, the error says so.
func TestAdminPasswordRotation(t *testing.T) {
	rolestest.Standins(t, []string{nextcloud.Project}, images...)
	l := rolestest.Lab(t, hosts, nil)
	root := t.TempDir()
	html := writableHTML(t, filepath.Join(root, "srv/data/nextcloud"))
	first := maps.Clone(rolestest.Secrets)
	if _, err := rolestest.PassSecrets(t, l, "cloud", root, true, first); err != nil {
		t.Fatal(err)
	}
	recorded := func() string {
		b, _ := os.ReadFile(filepath.Join(html, "data/standin-passwords", nextcloud.Admin))
		return strings.TrimSpace(string(b))
	}
	hash := func(pw string) string { s := sha256.Sum256([]byte(pw)); return hex.EncodeToString(s[:]) }

	second := maps.Clone(first)
	second[nextcloud.SecretAdminPassword] = "rotated admin LeakCanary-4"
	plan, err := rolestest.PassSecrets(t, l, "cloud", root, false, second)
	if err != nil {
		t.Fatal(err)
	}
	text := rolestest.Text(plan)
	if !strings.Contains(text, "~ rotate:NEXTCLOUD_ADMIN_PASSWORD: secret NEXTCLOUD_ADMIN_PASSWORD changed (rotate: occ user:resetpassword admin)") {
		t.Fatalf("plan:\n%s", text)
	}
	if strings.Contains(text, "LeakCanary") || strings.Contains(text, first[nextcloud.SecretAdminPassword]) {
		t.Fatalf("a value in the plan:\n%s", text)
	}
	if recorded() != "" {
		t.Fatal("plan reset the password")
	}
	if rep, err := rolestest.PassSecrets(t, l, "cloud", root, true, second); err != nil {
		t.Fatalf("rotation: %v\n%s", err, rolestest.Text(rep))
	}
	if got := recorded(); got != hash(second[nextcloud.SecretAdminPassword]) {
		t.Fatalf("occ set the admin's password to a value hashing to %q, want the new one's", got)
	}
	if env := appEnv(t); !slices.Contains(env, "NEXTCLOUD_ADMIN_PASSWORD="+second[nextcloud.SecretAdminPassword]) {
		t.Fatal("the app did not get the new password")
	}

	// The app is down: the rotation fails and nothing is recreated.
	ctx := context.Background()
	if err := docker.Stop(ctx, dockertest.Client(t), nextcloud.Project, nextcloud.App); err != nil {
		t.Fatal(err)
	}
	third := maps.Clone(second)
	third[nextcloud.SecretAdminPassword] = "third-LeakCanary-5"
	rep, err := rolestest.PassSecrets(t, l, "cloud", root, true, third)
	if err == nil || !strings.Contains(err.Error(), "rotating secret NEXTCLOUD_ADMIN_PASSWORD (occ user:resetpassword admin) failed; the old value still works") {
		t.Fatalf("failed rotation: %v\n%s", err, rolestest.Text(rep))
	}
	if strings.Contains(err.Error()+rolestest.Text(rep), "LeakCanary") {
		t.Fatalf("a value in the failure:\n%v\n%s", err, rolestest.Text(rep))
	}
	if got := recorded(); got != hash(second[nextcloud.SecretAdminPassword]) {
		t.Fatal("a failed rotation changed the admin's password")
	}
	if env := appEnv(t); !slices.Contains(env, "NEXTCLOUD_ADMIN_PASSWORD="+second[nextcloud.SecretAdminPassword]) {
		t.Fatal("a failed rotation recreated the app with the new value")
	}
	if b, _ := os.ReadFile(filepath.Join(root, rotate.Dir, nextcloud.SecretAdminPassword)); string(b) != second[nextcloud.SecretAdminPassword] {
		t.Fatal("a failed rotation changed the remembered value")
	}
}
