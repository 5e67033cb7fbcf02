package backup

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestAgentOverhead checks that a backup run spends little time outside
// restic (the target is under 100 ms; the bound here is loose because
// -race and a shared machine slow everything down).
func TestAgentOverhead(t *testing.T) {
	r := testRunner(t, s3Server(t))
	ctx := ctxT(t)
	writeTree(t, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil { // init, version check
		t.Fatal(res.Err)
	}
	res := r.BackupJob(ctx, job("nextcloud"))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	over := res.Duration - res.ResticTime
	t.Logf("backup run %v, restic %v, agent overhead %v", res.Duration, res.ResticTime, over)
	if over > 250*time.Millisecond {
		t.Errorf("agent overhead %v, want well under 100ms without -race", over)
	}
}

// BenchmarkBackupOverhead measures a whole backup run of a small tree and
// reports the part spent outside restic (agent-ms/op).
func BenchmarkBackupOverhead(b *testing.B) {
	r := testRunner(b, s3Server(b))
	ctx := ctxT(b)
	writeTree(b, r.Config.Root, "nextcloud")
	if res := r.BackupJob(ctx, job("nextcloud")); res.Err != nil {
		b.Fatal(res.Err)
	}
	var over, restic time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res := r.BackupJob(ctx, job("nextcloud"))
		if res.Err != nil {
			b.Fatal(res.Err)
		}
		over += res.Duration - res.ResticTime
		restic += res.ResticTime
	}
	b.ReportMetric(float64(over.Microseconds())/1000/float64(b.N), "agent-ms/op")
	b.ReportMetric(float64(restic.Microseconds())/1000/float64(b.N), "restic-ms/op")
}

// writeBulk writes size bytes of incompressible data: half in 16 KiB
// files (in folders of 500), half in 64 MiB files.
func writeBulk(tb testing.TB, dir string, size int64) {
	tb.Helper()
	rng := rand.NewChaCha8([32]byte{1, 2, 3})
	small := size / 2
	buf := make([]byte, 64<<20)
	for i := int64(0); i*16<<10 < small; i++ {
		d := filepath.Join(dir, "small", fmt.Sprintf("%03d", i/500))
		if i%500 == 0 {
			os.MkdirAll(d, 0o755)
		}
		rng.Read(buf[:16<<10])
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("%05d", i)), buf[:16<<10], 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "large"), 0o755)
	for i := int64(0); i*64<<20 < size-small; i++ {
		rng.Read(buf)
		if err := os.WriteFile(filepath.Join(dir, "large", fmt.Sprintf("%02d.bin", i)), buf, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// benchRestore backs up size bytes of small and large files, then times
// a full restore and reports how much of it restic took.
func benchRestore(b *testing.B, size int64) {
	r := testRunner(b, s3Server(b))
	ctx := ctxT(b)
	dir := filepath.Join(r.Config.Root, DataDir("immich"))
	writeBulk(b, dir, size)
	res := r.BackupJob(ctx, job("immich"))
	if res.Err != nil {
		b.Fatal(res.Err)
	}
	b.Logf("backup of %d MiB: %v (restic %v)", size>>20, res.Duration, res.ResticTime)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rr, err := r.Restore(ctx, RestoreOptions{Job: job("immich")})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(rr.Plan.PreRestore) // the benchmark's own data: keep the disk free
		b.StartTimer()
		b.ReportMetric(float64(size)/(1<<20)/rr.Duration.Seconds(), "MiB/s")
		b.ReportMetric(100*rr.ResticTime.Seconds()/rr.Duration.Seconds(), "%restic")
		b.ReportMetric(float64((rr.Duration - rr.ResticTime).Milliseconds()), "agent-ms")
	}
}

// BenchmarkRestore1GiB is the measurement (make bench).
func BenchmarkRestore1GiB(b *testing.B) { benchRestore(b, 1<<30) }

// BenchmarkRestore64MiB is the quick version.
func BenchmarkRestore64MiB(b *testing.B) { benchRestore(b, 64<<20) }
