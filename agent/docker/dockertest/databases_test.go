package dockertest

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"
	"github.com/docker/docker/pkg/stdcopy"
)

// run starts a container of img (removed at the end) and returns its ID.
func run(t *testing.T, cli *client.Client, name, img string, env []string, binds []string) string {
	t.Helper()
	ctx := context.Background()
	c, err := cli.ContainerCreate(ctx, &container.Config{Image: img, Env: env},
		&container.HostConfig{Binds: binds, NetworkMode: "none"}, nil, nil, Name(t)+"-"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.ContainerRemove(context.Background(), c.ID, container.RemoveOptions{Force: true}) })
	if err := cli.ContainerStart(ctx, c.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	return c.ID
}

// exec runs argv in the container with stdin and returns its output and exit code.
func execIn(t *testing.T, cli *client.Client, id string, stdin string, argv ...string) (string, int) {
	t.Helper()
	ctx := context.Background()
	ex, err := cli.ContainerExecCreate(ctx, id, container.ExecOptions{Cmd: argv, AttachStdin: stdin != "", AttachStdout: true, AttachStderr: true})
	if err != nil {
		t.Fatal(err)
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer att.Close()
	if stdin != "" {
		att.Conn.Write([]byte(stdin))
		att.CloseWrite()
	}
	var out bytes.Buffer
	stdcopy.StdCopy(&out, &out, att.Reader)
	in, err := cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), in.ExitCode
}

func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPostgresKeepsTheOfficialContract: on an empty data folder the
// image creates POSTGRES_USER with POSTGRES_PASSWORD and POSTGRES_DB;
// pg_isready, psql and pg_dumpall are on PATH; a second start on the same
// folder keeps the data; without a password it refuses to initialise.
func TestPostgresKeepsTheOfficialContract(t *testing.T) {
	cli := Client(t)
	img := Postgres(t)
	data := t.TempDir()
	env := []string{"POSTGRES_USER=app", "POSTGRES_PASSWORD=pw-123", "POSTGRES_DB=appdb"}
	id := run(t, cli, "db", img, env, []string{data + ":/var/lib/postgresql/data"})
	eventually(t, "pg_isready", func() bool {
		_, code := execIn(t, cli, id, "", "sh", "-c", "pg_isready -U app -d appdb -h 127.0.0.1")
		return code == 0
	})
	if out, code := execIn(t, cli, id, "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('kept');\n",
		"psql", "-v", "ON_ERROR_STOP=1", "-U", "app", "-d", "appdb"); code != 0 {
		t.Fatalf("psql: %d %s", code, out)
	}
	// The role's password is set (scram-sha-256 for remote clients, as
	// POSTGRES_HOST_AUTH_METHOD's default; local ones are trusted).
	if out, code := execIn(t, cli, id, "", "psql", "-U", "app", "-d", "appdb", "-Atc", "select rolpassword like 'SCRAM-SHA-256$%' from pg_authid where rolname = 'app'"); code != 0 || strings.TrimSpace(out) != "t" {
		t.Errorf("app's password: %d %q", code, out)
	}
	if out, code := execIn(t, cli, id, "", "sh", "-c", "tail -1 \"$PGDATA/pg_hba.conf\""); code != 0 || strings.TrimSpace(out) != "host all all all scram-sha-256" {
		t.Errorf("pg_hba.conf ends with %q", out)
	}
	if out, code := execIn(t, cli, id, "", "pg_dumpall", "--clean", "--if-exists", "-U", "app"); code != 0 || !strings.Contains(out, "INSERT INTO public.notes") && !strings.Contains(out, "COPY public.notes") {
		t.Errorf("pg_dumpall: %d %s", code, out)
	}
	// A restart on the same folder keeps the rows (no second initdb).
	timeout := 30
	if err := cli.ContainerRestart(context.Background(), id, container.StopOptions{Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the row after a restart", func() bool {
		out, code := execIn(t, cli, id, "", "psql", "-U", "app", "-d", "appdb", "-Atc", "select body from notes")
		return code == 0 && strings.TrimSpace(out) == "kept"
	})

	// No password on an empty folder: the container exits with the
	// official image's message.
	id2 := run(t, cli, "nopw", img, []string{"POSTGRES_USER=app"}, []string{t.TempDir() + ":/var/lib/postgresql/data"})
	eventually(t, "the passwordless container to exit", func() bool {
		in, err := cli.ContainerInspect(context.Background(), id2)
		return err == nil && !in.State.Running
	})
	logs, _ := cli.ContainerLogs(context.Background(), id2, container.LogsOptions{ShowStderr: true, ShowStdout: true})
	var b bytes.Buffer
	stdcopy.StdCopy(&b, &b, logs)
	if !strings.Contains(b.String(), "superuser password is not specified") {
		t.Errorf("logs: %s", b.String())
	}
}

// TestRedisAnswersPing: redis-server runs by default and redis-cli is there.
func TestRedisAnswersPing(t *testing.T) {
	cli := Client(t)
	id := run(t, cli, "redis", Redis(t), nil, nil)
	eventually(t, "redis-cli ping", func() bool {
		out, code := execIn(t, cli, id, "", "sh", "-c", "redis-cli ping | grep -q PONG && redis-cli set k v && redis-cli get k")
		return code == 0 && strings.Contains(out, "v")
	})
}

// TestStandinHasARealShell: sh -c runs commands (busybox), and a failing
// command fails; the stand-in no longer answers for sh.
func TestStandinHasARealShell(t *testing.T) {
	cli := Client(t)
	id := run(t, cli, "app", Standin(t), nil, nil)
	if out, code := execIn(t, cli, id, "", "sh", "-c", "echo hello | tr a-z A-Z; exit 3"); code != 3 || strings.TrimSpace(out) != "HELLO" {
		t.Errorf("sh -c: %d %q", code, out)
	}
	if _, code := execIn(t, cli, id, "", "sh", "-c", "pg_isready"); code == 0 {
		t.Error("pg_isready succeeded in the app stand-in")
	}
}
