package rolestest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/homelab-agent/homelab-agent/agent"
	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/docker/dockertest"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// BackupKey is the homelab.yaml backup key for a repository on the S3
// server at addr (agent/backup/backuptest); append it to the hosts.
func BackupKey(addr string) string {
	return "backup: {repository: \"s3:http://" + addr + "/lab-backups\", init: true}\n"
}

// dumpEnv makes the test binary a role's dump command (see Main); its
// value is "service host labdir".
const dumpEnv = "HOMELAB_ROLESTEST_DUMP"

// Main is TestMain for role packages whose tests back up through the
// agent: restic runs the dump command, which the agent points at its own
// binary (`homelab-agent backup-dump`); in tests the test binary plays
// that part and calls the same backup.WriteDump.
func Main(m *testing.M) {
	if v := os.Getenv(dumpEnv); v != "" {
		f := strings.SplitN(v, " ", 3)
		var err error
		if len(f) != 3 {
			err = fmt.Errorf("%s=%q: want service host labdir", dumpEnv, v)
		}
		var l *lab.Lab
		if err == nil {
			l, err = agent.LoadLab(f[2])
		}
		var hb *agent.Backups
		if err == nil {
			hb, err = agent.HostBackups(l, f[1], "/")
		}
		if err == nil {
			err = hb.WriteDump(context.Background(), f[0], os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// Runner returns the host's backup runner (its root, the lab's repository,
// the Docker Engine as its ServiceControl, as `restore` makes it) and its jobs with the roles'
// quiesce steps and dumps attached, as `homelab-agent backup` builds them.
func Runner(t testing.TB, l *lab.Lab, host, root string) (*backup.Runner, []backup.Job) {
	t.Helper()
	cfg, err := backup.ConfigFor(l, host, root)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := agent.HostBackups(l, host, root)
	if err != nil {
		t.Fatal(err)
	}
	ctl, err := hb.Control(secrets.FromMap(Secrets), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctl.StopTimeout, ctl.Poll = 20*time.Second, 200*time.Millisecond
	jobs := backup.HostJobs(hb.Jobs, backup.Hooks{
		Env: backup.Env{Lab: l, Host: l.Hosts.Get(host), Docker: ctl.Client},
		DumpCommand: func(service string) []string {
			return []string{"env", dumpEnv + "=" + service + " " + host + " " + l.Dir, os.Args[0]}
		},
	})
	return &backup.Runner{Config: cfg, Secrets: secrets.FromMap(Secrets), Control: ctl}, jobs
}

// Psql runs sql with psql (ON_ERROR_STOP, unaligned tuples) as user in
// database db of the container and returns its output. It connects over
// TCP to 127.0.0.1 (trusted in the image, as in the official one): the
// entrypoint's temporary server during initdb listens on the socket only.
func Psql(t testing.TB, name, user, db, sql string) (string, error) {
	t.Helper()
	cli := dockertest.Client(t)
	ctx := context.Background()
	ex, err := cli.ContainerExecCreate(ctx, name, container.ExecOptions{
		Cmd:         []string{"psql", "-v", "ON_ERROR_STOP=1", "-At", "-h", "127.0.0.1", "-U", user, "-d", db},
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return "", err
	}
	att, err := cli.ContainerExecAttach(ctx, ex.ID, container.ExecAttachOptions{})
	if err != nil {
		return "", err
	}
	defer att.Close()
	att.Conn.Write([]byte(sql + "\n"))
	att.CloseWrite()
	var out, errOut bytes.Buffer
	stdcopy.StdCopy(&out, &errOut, att.Reader)
	in, err := cli.ContainerExecInspect(ctx, ex.ID)
	if err != nil {
		return "", err
	}
	if in.ExitCode != 0 {
		return out.String(), fmt.Errorf("psql in %s exited with %d: %s", name, in.ExitCode, strings.TrimSpace(errOut.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// Query runs sql until it succeeds (the server may still be starting, for
// up to two minutes) and returns its output.
func Query(t testing.TB, name, user, db, sql string) string {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := Psql(t, name, user, db, sql)
		if err == nil {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", sql, err)
		}
		time.Sleep(300 * time.Millisecond)
	}
}
