package backup

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/clock"
	"github.com/homelab-agent/homelab-agent/agent/hold"
	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// LockPath serialises backup, prune, check and restore between the
// daemon and commands run by hand.
const LockPath = "/var/lib/homelab-agent/backup.lock"

// Runner runs one host's backup operations one at a time and records
// their outcome. The zero values of the optional fields are sensible.
type Runner struct {
	Config  Config
	Secrets *secrets.Store
	// Control stops and starts services during a restore (nil: nothing to stop).
	Control ServiceControl
	// Notify is told about failures; nil builds one from Config.NotifyURL.
	Notify *Notifier
	Log    *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// RetryLock makes restic wait this long for a lock held elsewhere.
	RetryLock time.Duration
	// HoldWait is how long a backup that quiesces its service waits for
	// another holder of it (an image update under its health check, a
	// restore) before it fails (default DefaultHoldWait).
	HoldWait time.Duration

	mu     sync.Mutex // one operation at a time in this process
	smu    sync.Mutex // guards status
	status *Status
}

// DefaultHoldWait bounds a backup's wait for its held service: longer
// than an image update's health check (5 min) and its recreates.
const DefaultHoldWait = 15 * time.Minute

// Result is the outcome of one service's backup.
type Result struct {
	Service    string
	SnapshotID string
	BytesAdded int64
	Files      int64
	Duration   time.Duration
	// ResticTime is the part of Duration spent inside restic.
	ResticTime time.Duration
	Err        error
}

func (r *Runner) now() time.Time {
	if r.Now == nil {
		return clock.Real.Now()
	}
	return r.Now()
}

func (r *Runner) log() *slog.Logger {
	if r.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return r.Log
}

func (r *Runner) notifier() *Notifier {
	if r.Notify != nil {
		return r.Notify
	}
	if r.Config.NotifyURL == "" {
		return nil
	}
	r.Notify = &Notifier{URL: r.Config.NotifyURL, Secrets: r.Secrets}
	return r.Notify
}

// Status returns a copy of the records (loaded from disk on first use).
func (r *Runner) Status() (*Status, error) {
	r.smu.Lock()
	defer r.smu.Unlock()
	if err := r.loadStatus(); err != nil {
		return nil, err
	}
	return r.status.Clone(), nil
}

func (r *Runner) loadStatus() error {
	if r.status != nil {
		return nil
	}
	s, err := LoadStatus(r.Config.Root)
	if err != nil {
		return err
	}
	s.Host = r.Config.Host
	r.status = s
	return nil
}

// record updates the status and saves it. It rereads the file under a
// lock of its own, so that the daemon and a command run by hand never
// overwrite each other's records.
func (r *Runner) record(f func(s *Status)) error {
	r.smu.Lock()
	defer r.smu.Unlock()
	fl, err := lockFile(context.Background(), filepath.Join(r.Config.Root, StatusPath+".lock"))
	if err != nil {
		return err
	}
	defer fl.unlock()
	r.status = nil
	if err := r.loadStatus(); err != nil {
		return err
	}
	f(r.status)
	return r.status.Save(r.Config.Root)
}

// exclusive takes the in-process mutex and the host's lock file.
func (r *Runner) exclusive(ctx context.Context) (func(), error) {
	r.mu.Lock()
	fl, err := lockFile(ctx, filepath.Join(r.Config.Root, LockPath))
	if err != nil {
		r.mu.Unlock()
		return nil, err
	}
	return func() { fl.unlock(); r.mu.Unlock() }, nil
}

func (r *Runner) open(ctx context.Context) (*Repo, error) {
	repo, err := Open(ctx, r.Config, r.Secrets)
	if err != nil {
		return nil, err
	}
	repo.RetryLock = r.RetryLock
	repo.OnUnlock = func(n int) { r.log().Warn("removed stale restic locks", "count", n) }
	return repo, nil
}

// Backup backs up each job in turn; one failing job does not stop the
// others. Every outcome is recorded, and failures are notified.
func (r *Runner) Backup(ctx context.Context, jobs []Job) []Result {
	var out []Result
	for _, j := range jobs {
		out = append(out, r.BackupJob(ctx, j))
	}
	return out
}

// BackupJob runs one job: quiesce, dumps, files, undo quiesce, record.
func (r *Runner) BackupJob(ctx context.Context, j Job) Result {
	start := r.now()
	wall := time.Now()
	res := Result{Service: j.Service}
	unlock, err := r.exclusive(ctx)
	if err == nil {
		res, err = r.backup(ctx, j, start)
		unlock()
	}
	res.Service = j.Service
	res.Duration = time.Since(wall)
	res.Err = err
	var notify string
	rerr := r.record(func(s *Status) {
		rec := s.service(j.Service)
		if err != nil {
			rec.fail(start, res.Duration, err)
			if res.SnapshotID != "" { // exit 3: a partial snapshot exists
				rec.SnapshotID = res.SnapshotID
			}
			notify = err.Error()
			rec.Notified = true
			return
		}
		rec.succeed(start, res.Duration)
		rec.BytesAdded, rec.SnapshotID = res.BytesAdded, res.SnapshotID
	})
	if rerr != nil && res.Err == nil {
		res.Err = rerr
	}
	if err != nil {
		r.log().Error("backup failed", "service", j.Service, "err", err)
		if n := r.notifier(); n != nil {
			n.Send(ctx, fmt.Sprintf("backup of %s on %s failed", j.Service, r.Config.Host), notify)
		}
	} else {
		r.log().Info("backup done", "service", j.Service, "snapshot", res.SnapshotID, "bytes_added", res.BytesAdded, "duration", res.Duration)
	}
	return res
}

func (r *Runner) backup(ctx context.Context, j Job, start time.Time) (res Result, err error) {
	op := "backup " + j.Service
	dataRoot := filepath.Join(r.Config.Root, lab.DataRoot)
	var rels []string
	for _, p := range j.Paths {
		rel, rerr := filepath.Rel(lab.DataRoot, p)
		if rerr != nil || strings.HasPrefix(rel, "..") || rel == "." {
			return res, &Error{Op: op, Code: -1, Kind: KindConfig, Msg: fmt.Sprintf("path %s is not inside %s/<service>", p, lab.DataRoot)}
		}
		rels = append(rels, rel)
	}
	if len(rels) == 0 {
		rels = []string{j.Service}
	}
	for _, rel := range rels {
		if empty, eerr := dirEmpty(filepath.Join(dataRoot, rel)); eerr != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindConfig, Msg: fmt.Sprintf("data folder %s: %v", filepath.Join(lab.DataRoot, rel), eerr)}
		} else if empty {
			return res, &Error{Op: op, Code: -1, Kind: KindConfig, Msg: fmt.Sprintf("data folder %s is empty; not backing it up, so that an empty disk never becomes the latest snapshot", filepath.Join(lab.DataRoot, rel))}
		}
	}
	// A self-restore put the files back but the database dumps are not
	// loaded yet: a snapshot now would pair them with an empty database.
	if id, oerr := owed(r.Config.Root, j.Service); oerr != nil || id != "" {
		msg := fmt.Sprintf("%s still owes the database dumps of snapshot %.8s to its restore; not backing it up, so that its files never become the latest snapshot without their database (the agent loads the dumps each pass; see homelab-agent restore --service %s)", j.Service, id, j.Service)
		if oerr != nil {
			msg = oerr.Error()
		}
		return res, &Error{Op: op, Code: -1, Kind: KindConfig, Msg: msg}
	}
	repo, err := r.open(ctx)
	if err != nil {
		return res, err
	}
	defer repo.Close()
	defer func() { res.ResticTime = repo.ResticTime }()

	if j.Quiesce != nil {
		// While the service is quiesced (Jellyfin stopped), a pass of the
		// daemon must not start it again.
		h, herr := hold.Wait(ctx, r.Config.Root, j.Service, "backup quiesce", cmp.Or(r.HoldWait, DefaultHoldWait), time.Second)
		if herr != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindQuiesce, Msg: herr.Error()}
		}
		defer h.Release()
	}
	err = j.Quiesce.Around(ctx, func(ctx context.Context) error {
		var serr error
		res, serr = r.snapshot(ctx, repo, j, op, dataRoot, rels, start)
		return serr
	})
	return res, quiesceErrors(op, repo, err)
}

// snapshot streams the job's dumps and backs up its folders: the part of a
// backup that runs while the service is quiesced.
func (r *Runner) snapshot(ctx context.Context, repo *Repo, j Job, op, dataRoot string, rels []string, start time.Time) (res Result, err error) {
	when := start.Local().Format("2006-01-02 15:04:05")
	common := []string{"backup", "--host", j.Host, "--time", when}
	for _, d := range j.Dumps {
		args := append(slicesClone(common), "--tag", strings.Join(append(j.tags(), "dump:"+d.Name), ","),
			"--stdin-from-command", "--stdin-filename", d.Filename(), "--")
		args = append(args, d.Command...)
		if _, err := repo.doLocked(ctx, op+" (dump "+d.Name+")", r.now, call{args: args, dir: dataRoot, onLine: func([]byte) {}, mayInit: true}); err != nil {
			if e, ok := err.(*Error); ok && strings.Contains(e.Detail, "command failed") {
				e.Kind, e.Msg = KindQuiesce, fmt.Sprintf("the dump command %q failed; no snapshot was saved", d.Command[0])
			}
			return res, err
		}
	}
	args := append(slicesClone(common), "--tag", strings.Join(j.tags(), ","))
	for _, x := range j.Excludes {
		if filepath.IsAbs(x) {
			// A host path: restic anchors it to the full path it saves.
			x = filepath.Join(r.Config.Root, x)
		}
		args = append(args, "--exclude", x)
	}
	args = append(args, "--")
	args = append(args, rels...)
	var sum backupSummary
	_, err = repo.doLocked(ctx, op, r.now, call{args: args, dir: dataRoot, mayInit: true, onLine: func(line []byte) {
		if strings.Contains(string(line[:min(40, len(line))]), `"summary"`) {
			json.Unmarshal(line, &sum)
		}
	}})
	res.SnapshotID, res.BytesAdded, res.Files = sum.SnapshotID, sum.DataAddedPacked, sum.TotalFilesProcessed
	return res, err
}

// quiesceErrors turns the quiesce steps' failures in err (Quiesce.Around)
// into KindQuiesce errors with secrets redacted; the backup's own errors
// pass as they are.
func quiesceErrors(op string, repo *Repo, err error) error {
	if err == nil {
		return nil
	}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	for i, p := range parts {
		if se, ok := p.(*stepError); ok {
			parts[i] = &Error{Op: op, Code: -1, Kind: KindQuiesce, Msg: se.step + ": " + repo.redact(se.err.Error())}
		}
	}
	if len(parts) == 1 {
		return parts[0]
	}
	return errors.Join(parts...)
}

type backupSummary struct {
	MessageType         string `json:"message_type"`
	SnapshotID          string `json:"snapshot_id"`
	DataAdded           int64  `json:"data_added"`
	DataAddedPacked     int64  `json:"data_added_packed"`
	TotalFilesProcessed int64  `json:"total_files_processed"`
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// dirEmpty reports whether a folder has no entries; a missing folder is an error.
func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && err != io.EOF {
		return false, err
	}
	return true, nil
}

// Prune applies the keep policy to this host's snapshots (restic forget
// --prune, grouped by host, paths and tags so that each service and each
// dump keeps its own history).
func (r *Runner) Prune(ctx context.Context) error {
	keep := keepArgs(r.Config.Keep)
	return r.maintain(ctx, "prune", func(s *Status) **Record { return &s.Prune }, func(repo *Repo) error {
		if len(keep) == 0 {
			r.log().Warn("backup.keep is empty: not forgetting any snapshot")
			return nil
		}
		args := append([]string{"forget", "--host", r.Config.Host, "--group-by", "host,paths,tags", "--prune"}, keep...)
		_, err := repo.doLocked(ctx, "prune", r.now, call{args: args, onLine: func([]byte) {}})
		return err
	})
}

// Check reads a subset of the repository's data (restic check
// --read-data-subset) to catch damage before a restore needs the data.
func (r *Runner) Check(ctx context.Context) error {
	return r.maintain(ctx, "check", func(s *Status) **Record { return &s.Check }, func(repo *Repo) error {
		_, err := repo.doLocked(ctx, "check", r.now, call{args: []string{"check", "--read-data-subset", r.Config.CheckSubset}, onLine: func([]byte) {}})
		return err
	})
}

func (r *Runner) maintain(ctx context.Context, name string, rec func(*Status) **Record, f func(*Repo) error) error {
	start := r.now()
	wall := time.Now()
	unlock, err := r.exclusive(ctx)
	if err == nil {
		var repo *Repo
		if repo, err = r.open(ctx); err == nil {
			err = f(repo)
			repo.Close()
		}
		unlock()
	}
	d := time.Since(wall)
	if rerr := r.record(func(s *Status) {
		p := rec(s)
		if *p == nil {
			*p = &Record{}
		}
		if err != nil {
			(*p).fail(start, d, err)
			(*p).Notified = true
		} else {
			(*p).succeed(start, d)
		}
	}); rerr != nil && err == nil {
		return rerr
	}
	if err != nil {
		r.log().Error(name+" failed", "err", err)
		if n := r.notifier(); n != nil {
			n.Send(ctx, fmt.Sprintf("backup %s on %s failed", name, r.Config.Host), err.Error())
		}
	}
	return err
}

// Snapshot is one restic snapshot as `restic snapshots --json` lists it.
type Snapshot struct {
	ID       string    `json:"id"`
	ShortID  string    `json:"short_id"`
	Time     time.Time `json:"time"`
	Hostname string    `json:"hostname"`
	Paths    []string  `json:"paths"`
	Tags     []string  `json:"tags"`
	Summary  *struct {
		TotalFilesProcessed int64 `json:"total_files_processed"`
		TotalBytesProcessed int64 `json:"total_bytes_processed"`
	} `json:"summary,omitempty"`
}

// Service returns the snapshot's service:<name> tag value.
func (s Snapshot) Service() string { return s.tag("service:") }

// Dump returns the dump name of a dump snapshot, "" for a files snapshot.
func (s Snapshot) Dump() string { return s.tag("dump:") }

func (s Snapshot) tag(prefix string) string {
	for _, t := range s.Tags {
		if strings.HasPrefix(t, prefix) {
			return t[len(prefix):]
		}
	}
	return ""
}

// Snapshots lists this host's snapshots, of one service when service is
// not empty, oldest first.
func (r *Runner) Snapshots(ctx context.Context, service string) ([]Snapshot, error) {
	repo, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	return repo.snapshots(ctx, r.Config.Host, service)
}

func (repo *Repo) snapshots(ctx context.Context, host, service string) ([]Snapshot, error) {
	args := []string{"snapshots", "--no-lock", "--host", host}
	if service != "" {
		args = append(args, "--tag", "service:"+service)
	}
	res, err := repo.do(ctx, "listing snapshots", call{args: args})
	if err != nil {
		return nil, err
	}
	var snaps []Snapshot
	if err := json.Unmarshal(joinLines(res.lines), &snaps); err != nil {
		return nil, &Error{Op: "listing snapshots", Code: 0, Kind: KindFailed, Msg: "cannot parse restic's snapshot list: " + err.Error()}
	}
	return snaps, nil
}
