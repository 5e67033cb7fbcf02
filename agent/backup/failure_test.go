package backup

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestFailuresHaveClearMessages: wrong password, missing repository and
// an unreachable endpoint each give their own message, the status shows
// the failure, a notification is posted, and no secret leaks anywhere.
func TestFailuresHaveClearMessages(t *testing.T) {
	addr := s3Server(t)
	good := testRunner(t, addr)
	ctx := ctxT(t)
	writeTree(t, good.Config.Root, "nextcloud")
	if res := good.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		t.Fatal(res.Err)
	}

	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 4096)
		n, _ := r.Body.Read(b)
		mu.Lock()
		posts = append(posts, r.Header.Get("Title")+": "+string(b[:n]))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := closed.Addr().String()
	closed.Close()

	cases := []struct {
		name   string
		setup  func(r *Runner)
		kind   Kind
		substr string
	}{
		{"wrong password", func(r *Runner) {
			r.Config.Repository = good.Config.Repository
			r.Secrets = testSecrets("not the password")
		}, KindPassword, "wrong repository password"},
		{"missing repository", func(r *Runner) {
			r.Config.Repository = "s3:http://" + addr + "/no-such-repo"
			r.Config.Init = false
		}, KindNoRepository, "does not exist"},
		{"unreachable endpoint", func(r *Runner) {
			r.Config.Repository = "s3:http://" + deadAddr + "/lab-backups"
		}, KindUnreachable, "cannot reach the repository endpoint " + deadAddr},
	}
	msgs := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := testRunner(t, addr)
			c.setup(r)
			r.Config.NotifyURL = hook.URL + "/ntfy-topic"
			writeTree(t, r.Config.Root, "nextcloud")
			res := r.BackupJob(ctx, job("nextcloud"))
			if !errors.Is(res.Err, ErrKind(c.kind)) {
				t.Fatalf("err = %v, want kind %s", res.Err, c.kind)
			}
			msg := res.Err.Error()
			if !strings.Contains(msg, c.substr) {
				t.Errorf("message %q lacks %q", msg, c.substr)
			}
			msgs[msg] = true
			noSecretIn(t, "error", msg)
			st, _ := r.Status()
			rec := st.Services["nextcloud"]
			if rec == nil || !rec.Failing() || rec.ErrorKind != c.kind || rec.LastFailure.IsZero() || rec.LastError != msg {
				t.Errorf("status record = %+v", rec)
			}
			data, _ := os.ReadFile(filepath.Join(r.Config.Root, StatusPath))
			noSecretIn(t, "status file", string(data))
			var metrics strings.Builder
			st.WriteMetrics(&metrics)
			if !strings.Contains(metrics.String(), `homelab_backup_failing{service="nextcloud"} 1`) {
				t.Errorf("metrics lack the failure:\n%s", metrics.String())
			}
			t.Log(msg)
		})
	}
	if len(msgs) != len(cases) {
		t.Errorf("messages are not distinct: %v", msgs)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(posts) != len(cases) {
		t.Errorf("notifications = %q, want one per failure", posts)
	}
	for _, p := range posts {
		noSecretIn(t, "notification", p)
		if !strings.Contains(p, "backup of nextcloud on cloud failed") {
			t.Errorf("notification %q lacks its title", p)
		}
	}
}

// TestMissingSecret names the secret and never runs restic.
func TestMissingSecret(t *testing.T) {
	r := testRunner(t, "127.0.0.1:1")
	r.Secrets = nil
	writeTree(t, r.Config.Root, "immich")
	res := r.BackupJob(ctxT(t), job("immich"))
	if !errors.Is(res.Err, ErrKind(KindConfig)) || !strings.Contains(res.Err.Error(), "RESTIC_PASSWORD") {
		t.Fatalf("err = %v", res.Err)
	}
}

// TestCancelledBackupUndoesQuiesce: a backup cancelled while restic runs
// (the daemon stopping) is recorded as interrupted and its quiesce undo
// step still runs.
func TestCancelledBackupUndoesQuiesce(t *testing.T) {
	r := testRunner(t, s3Server(t))
	writeTree(t, r.Config.Root, "nextcloud")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	undone := false
	j := job("nextcloud")
	j.Quiesce = &Quiesce{
		Before: func(context.Context) error { return nil },
		After: func(ctx context.Context) error {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			undone = true
			return nil
		},
	}
	// The dump command says it started, then writes slowly until restic
	// is stopped (and its pipe closes).
	marker := filepath.Join(t.TempDir(), "dumping")
	j.Dumps = []Dump{{Name: "slow", Command: []string{"sh", "-c", "touch " + marker + "; while echo x; do sleep 0.05; done"}}}
	go func() {
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			if _, err := os.Stat(marker); err == nil {
				break
			}
		}
		cancel()
	}()
	start := time.Now()
	res := r.BackupJob(ctx, j)
	if res.Err == nil || !undone || !errors.Is(res.Err, ErrKind(KindInterrupted)) {
		t.Fatalf("err %v, undone %v", res.Err, undone)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("stopping took %s", d)
	}
	st, _ := r.Status()
	if rec := st.Services["nextcloud"]; rec == nil || rec.ErrorKind != KindInterrupted {
		t.Fatalf("record = %+v", rec)
	}
	t.Logf("recorded after %s: %s", time.Since(start).Round(time.Millisecond), st.Services["nextcloud"].LastError)
}
