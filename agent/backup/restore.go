package backup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
	"github.com/homelab-agent/homelab-agent/agent/hold"
	"github.com/homelab-agent/homelab-agent/agent/lab"
)

// ServiceControl stops and starts a service's containers around a restore.
// The Docker Engine implementation is DockerControl.
type ServiceControl interface {
	// Stop stops every container of the service; none running is fine.
	Stop(ctx context.Context, service string) error
	// Start starts every container of the service.
	Start(ctx context.Context, service string) error
	// WaitHealthy returns when every container of the service runs and
	// those with a health check report healthy, or ctx ends.
	WaitHealthy(ctx context.Context, service string) error
}

// DumpLoader is implemented by controls that can feed a database dump to
// the service's database container (Dump.Container, Dump.Restore). Both
// methods start that container alone when it is not running.
type DumpLoader interface {
	// CheckDump runs Dump.Check and returns what it printed: what the
	// database holds ("" when it is empty).
	CheckDump(ctx context.Context, service string, d Dump) (string, error)
	// LoadDump runs Dump.Restore with the dump on stdin.
	LoadDump(ctx context.Context, service string, d Dump, dump io.Reader) error
}

// RestoreOptions say what to restore and how to talk to the person.
type RestoreOptions struct {
	// Job is the service's backup job (for its dumps' restore commands).
	Job Job
	// Snapshot is a snapshot ID (or its prefix) or "latest" ("" = latest).
	Snapshot string
	// Confirm is asked before anything changes; false cancels. nil proceeds.
	Confirm func(p *RestorePlan) bool
	// Progress receives progress lines; Terminal redraws one line instead.
	Progress io.Writer
	Terminal bool
	// NoStart leaves the service stopped (self-restore: the engine starts it).
	NoStart bool
	// Force loads the dumps into a database that already holds data
	// (Dump.Check printed something); without it such a load is refused
	// (KindNotEmpty) and the service is not started.
	Force bool
	// Owed records the dumps as owed on the host until they are loaded
	// (self-restore: a later pass loads them, see LoadOwed).
	Owed bool
	// HealthTimeout bounds the wait for the service to be healthy (10m).
	HealthTimeout time.Duration
}

// RestorePlan is what a restore will do, shown before it does it.
type RestorePlan struct {
	Service  string
	Snapshot Snapshot
	Dumps    []Snapshot
	// DataDir, Temp and PreRestore are host paths (under the root).
	DataDir, Temp, PreRestore string
	// DataEmpty is set when the data folder is missing or empty: nothing
	// is set aside.
	DataEmpty bool
}

// Describe writes the plan for a person.
func (p *RestorePlan) Describe(w io.Writer) {
	fmt.Fprintf(w, "restore %s from snapshot %s of %s (host %s)\n", p.Service, p.Snapshot.ShortID, p.Snapshot.Time.Local().Format("2006-01-02 15:04:05 MST"), p.Snapshot.Hostname)
	if s := p.Snapshot.Summary; s != nil {
		fmt.Fprintf(w, "  %d files, %s\n", s.TotalFilesProcessed, HumanBytes(s.TotalBytesProcessed))
	}
	fmt.Fprintf(w, "  1. stop the containers of %s\n", p.Service)
	fmt.Fprintf(w, "  2. restore and verify into %s\n", p.Temp)
	if p.DataEmpty {
		fmt.Fprintf(w, "  3. move it to %s (now empty)\n", p.DataDir)
	} else {
		fmt.Fprintf(w, "  3. move the current %s aside to %s (kept; remove it yourself once satisfied) and the restored data in its place\n", p.DataDir, p.PreRestore)
	}
	for _, d := range p.Dumps {
		fmt.Fprintf(w, "  4. start the database container alone, wait until it accepts connections, and load database dump %s (snapshot %s) into it (refused if the database already holds data, unless forced)\n", d.Dump(), d.ShortID)
	}
	fmt.Fprintf(w, "  5. start the rest of %s and wait until it is healthy\n", p.Service)
}

// RestoreResult is what a restore did.
type RestoreResult struct {
	Plan     *RestorePlan
	Duration time.Duration
	// ResticTime is the part of Duration spent inside restic.
	ResticTime time.Duration
	// Warnings are problems that did not stop the restore.
	Warnings []string
}

// ErrCancelled is returned when Confirm says no.
var ErrCancelled = errors.New("restore cancelled: nothing was changed")

// Restore brings a service's data back from a snapshot: it stops the
// service, restores into a temporary folder on the data disk, verifies
// the restored files, swaps the folders with renames (the old data is
// kept as <service>.pre-restore-<time>), loads the database dumps taken
// with the snapshot into the database container, started alone (each
// refused, KindNotEmpty, when the database already holds data, unless
// Force), and starts the rest of the service again. Data is never deleted.
func (r *Runner) Restore(ctx context.Context, o RestoreOptions) (*RestoreResult, error) {
	wall := time.Now()
	svc := o.Job.Service
	op := "restore " + svc
	unlock, err := r.exclusive(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	repo, err := r.open(ctx)
	if err != nil {
		return nil, err
	}
	defer repo.Close()
	res := &RestoreResult{}
	defer func() { res.Duration, res.ResticTime = time.Since(wall), repo.ResticTime }()

	plan, err := r.planRestore(ctx, repo, svc, o.Snapshot)
	if err != nil {
		return nil, err
	}
	res.Plan = plan
	if o.Confirm != nil && !o.Confirm(plan) {
		return res, ErrCancelled
	}
	// A pass of the daemon must not start the service while its data is
	// being swapped.
	h, err := hold.Take(r.Config.Root, svc, "restore")
	if err != nil {
		return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
	}
	defer h.Release()
	if r.Control != nil {
		if err := r.Control.Stop(ctx, svc); err != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: "stopping the service: " + repo.redact(err.Error())}
		}
	}
	if err := os.MkdirAll(plan.Temp, 0o700); err != nil {
		return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
	}
	prog := newProgress(o.Progress, o.Terminal, svc)
	_, err = repo.doLocked(ctx, op, r.now, call{
		args:   []string{"restore", plan.Snapshot.ID, "--target", plan.Temp, "--verify"},
		onLine: func(b []byte) { heartbeat.Beat(ctx); prog.line(b) },
	})
	prog.done()
	if err != nil {
		return res, fmt.Errorf("%w; the partial restore in %s can be removed", err, plan.Temp)
	}
	if err := swap(plan, svc); err != nil {
		return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
	}
	if err := fixRestored(o.Job.Declared, plan.DataDir); err != nil {
		return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error() + rollbackHint(plan)}
	}
	if o.Owed && len(plan.Dumps) > 0 {
		if err := owe(r.Config.Root, svc, plan.Snapshot.ID); err != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
		}
	}
	warnings, lerr := r.loadDumps(ctx, repo, o.Job, plan.Dumps, o.Force)
	res.Warnings = append(res.Warnings, warnings...)
	if lerr != nil {
		lerr.Msg += "; the service was not started" + rollbackHint(plan)
		return res, lerr
	}
	if err := paid(r.Config.Root, svc); err != nil {
		return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
	}
	if r.Control != nil && !o.NoStart {
		if err := r.Control.Start(ctx, svc); err != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: "starting the service: " + repo.redact(err.Error()) + rollbackHint(plan)}
		}
		t := o.HealthTimeout
		if t == 0 {
			t = 10 * time.Minute
		}
		hctx, cancel := context.WithTimeout(ctx, t)
		defer cancel()
		if err := r.Control.WaitHealthy(hctx, svc); err != nil {
			return res, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: "the service did not become healthy: " + repo.redact(err.Error()) + rollbackHint(plan)}
		}
	}
	return res, nil
}

func rollbackHint(p *RestorePlan) string {
	if p.DataEmpty {
		return ""
	}
	return fmt.Sprintf("; the previous data is in %s: to go back, stop the service, mv %s %s.failed && mv %s %s", p.PreRestore, p.DataDir, p.DataDir, p.PreRestore, p.DataDir)
}

// planRestore picks the snapshot and its dumps and names the folders.
func (r *Runner) planRestore(ctx context.Context, repo *Repo, svc, want string) (*RestorePlan, error) {
	op := "restore " + svc
	snaps, err := repo.snapshots(ctx, r.Config.Host, svc)
	if err != nil {
		return nil, err
	}
	var files []Snapshot
	for _, s := range snaps {
		if s.Dump() == "" {
			files = append(files, s)
		}
	}
	slices.SortStableFunc(files, func(a, b Snapshot) int { return a.Time.Compare(b.Time) })
	var pick *Snapshot
	switch want {
	case "", "latest":
		if len(files) > 0 {
			pick = &files[len(files)-1]
		}
	default:
		for i := range files {
			if strings.HasPrefix(files[i].ID, want) {
				if pick != nil {
					return nil, &Error{Op: op, Code: -1, Kind: KindConfig, Msg: fmt.Sprintf("snapshot ID %q is ambiguous; give more characters", want)}
				}
				pick = &files[i]
			}
		}
	}
	if pick == nil {
		what := "no snapshot"
		if want != "" && want != "latest" {
			what = "no snapshot " + want
		}
		return nil, &Error{Op: op, Code: -1, Kind: KindNoSnapshot, Msg: fmt.Sprintf("%s of %s from host %s in %s", what, svc, r.Config.Host, repo)}
	}
	p := &RestorePlan{Service: svc, Snapshot: *pick}
	for _, s := range snaps {
		if s.Dump() != "" && s.Time.Truncate(time.Second).Equal(pick.Time.Truncate(time.Second)) {
			p.Dumps = append(p.Dumps, s)
		}
	}
	stamp := r.now().UTC().Format("20060102T150405Z")
	dataRoot := filepath.Join(r.Config.Root, lab.DataRoot)
	p.DataDir = filepath.Join(dataRoot, svc)
	p.Temp = filepath.Join(dataRoot, ".restore-"+svc+"-"+stamp)
	p.PreRestore = filepath.Join(dataRoot, svc+".pre-restore-"+stamp)
	empty, err := dirEmpty(p.DataDir)
	p.DataEmpty = empty || errors.Is(err, os.ErrNotExist)
	return p, nil
}

// swap moves the restored folder into place with renames on one file
// system. The previous data is renamed aside, never deleted.
func swap(p *RestorePlan, svc string) error {
	restored := filepath.Join(p.Temp, svc)
	if fi, err := os.Stat(restored); err != nil || !fi.IsDir() {
		return fmt.Errorf("snapshot %s holds no %s/ folder; it was not made by homelab-agent", p.Snapshot.ShortID, svc)
	}
	moved := false
	if p.DataEmpty {
		// An empty folder (a fresh disk) holds nothing to keep.
		if err := os.Remove(p.DataDir); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replacing empty %s: %w", p.DataDir, err)
		}
	} else {
		if err := os.Rename(p.DataDir, p.PreRestore); err != nil {
			return fmt.Errorf("moving %s aside: %w", p.DataDir, err)
		}
		moved = true
	}
	if err := os.Rename(restored, p.DataDir); err != nil {
		if moved {
			os.Rename(p.PreRestore, p.DataDir)
		}
		return fmt.Errorf("moving the restored data into %s: %w", p.DataDir, err)
	}
	os.Remove(p.Temp) // empty now; left alone if restic put more there
	return nil
}

// loadDumps loads a snapshot's dumps into the service's database, each
// after its Check found the database empty (or force). It returns
// warnings for dumps it cannot load (no restore command) and a KindFailed
// or KindNotEmpty error for the first that fails.
func (r *Runner) loadDumps(ctx context.Context, repo *Repo, j Job, dumps []Snapshot, force bool) ([]string, *Error) {
	op := "restore " + j.Service
	var warnings []string
	for _, s := range dumps {
		name := s.Dump()
		var d *Dump
		for i := range j.Dumps {
			if j.Dumps[i].Name == name {
				d = &j.Dumps[i]
			}
		}
		loader, ok := r.Control.(DumpLoader)
		if d == nil || len(d.Restore) == 0 || !ok {
			warnings = append(warnings, fmt.Sprintf("database dump %s (snapshot %s) was not loaded: no restore command for it; load it by hand with restic dump %s /%s", name, s.ShortID, s.ShortID, name+".sql"))
			continue
		}
		if !force {
			held, err := loader.CheckDump(ctx, j.Service, *d)
			if err != nil {
				return warnings, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: fmt.Sprintf("database dump %s (snapshot %s) was not loaded: %s", name, s.ShortID, repo.redact(err.Error()))}
			}
			if held != "" {
				return warnings, &Error{Op: op, Code: -1, Kind: KindNotEmpty, Msg: fmt.Sprintf("database dump %s (snapshot %s) was not loaded: the database of %s already holds data (%s); loading the dump would replace it: to do so, run homelab-agent restore --service %s --force", name, s.ShortID, j.Service, strings.ReplaceAll(held, "\n", "; "), j.Service)}
			}
		}
		if err := r.loadDump(ctx, repo, loader, j.Service, *d, s); err != nil {
			return warnings, &Error{Op: op, Code: -1, Kind: KindFailed, Msg: err.Error()}
		}
	}
	return warnings, nil
}

// loadDump streams a dump snapshot into the service's database container.
// One that fails to load is an error carrying the command's message (psql's).
func (r *Runner) loadDump(ctx context.Context, repo *Repo, loader DumpLoader, svc string, d Dump, s Snapshot) error {
	name := s.Dump()
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		_, err := repo.run(ctx, "reading dump "+name, call{args: []string{"dump", s.ID, "/" + d.Filename()}, stdout: pw})
		pw.CloseWithError(err)
		errc <- err
	}()
	lerr := loader.LoadDump(ctx, svc, d, pr)
	pr.CloseWithError(io.ErrClosedPipe)
	derr := <-errc
	if err := errors.Join(derr, lerr); err != nil {
		return fmt.Errorf("loading database dump %s (snapshot %s) failed: %s", name, s.ShortID, repo.redact(err.Error()))
	}
	return nil
}

// SelfRestore restores the latest snapshot of a job's service when its
// data folder is missing or empty and the repository has one. It runs
// before the service's first start: it starts only the database a dump
// is loaded into (through r.Control, see SelfRestore the resource), never
// forced, and records the dumps as owed until they are loaded (OwedDir).
// It is off when backup.auto_restore is false. It reports whether it
// restored.
func (r *Runner) SelfRestore(ctx context.Context, j Job) (bool, *RestoreResult, error) {
	if !r.Config.AutoRestore || !r.Config.Enabled() {
		return false, nil, nil
	}
	empty, err := dirEmpty(filepath.Join(r.Config.Root, DataDir(j.Service)))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, nil, err
	}
	if !empty && err == nil {
		return false, nil, nil
	}
	res, err := r.Restore(ctx, RestoreOptions{Job: j, NoStart: true, Owed: true})
	if errors.Is(err, ErrKind(KindNoSnapshot)) || (r.Config.Init && errors.Is(err, ErrKind(KindNoRepository))) {
		// Nothing to restore: a new service, or a new lab whose first
		// backup will create the repository.
		return false, nil, nil
	}
	if err != nil {
		return false, res, err
	}
	r.log().Warn("restored empty data folder from the latest snapshot", "service", j.Service, "snapshot", res.Plan.Snapshot.ShortID)
	return true, res, nil
}

// progress renders restic restore's status lines.
type progress struct {
	w        io.Writer
	terminal bool
	svc      string
	last     time.Time
	drawn    bool
}

func newProgress(w io.Writer, terminal bool, svc string) *progress {
	return &progress{w: w, terminal: terminal, svc: svc}
}

func (p *progress) line(b []byte) {
	head := string(b[:min(40, len(b))])
	summary := strings.Contains(head, `"summary"`)
	if p.w == nil || (!summary && !strings.Contains(head, `"status"`)) {
		return
	}
	var s struct {
		PercentDone   float64 `json:"percent_done"`
		TotalFiles    int64   `json:"total_files"`
		FilesRestored int64   `json:"files_restored"`
		TotalBytes    int64   `json:"total_bytes"`
		BytesRestored int64   `json:"bytes_restored"`
	}
	if json.Unmarshal(b, &s) != nil {
		return
	}
	if summary {
		s.PercentDone = 1
	}
	msg := fmt.Sprintf("restoring %s: %5.1f%%  %s of %s, %d of %d files", p.svc, s.PercentDone*100, HumanBytes(s.BytesRestored), HumanBytes(s.TotalBytes), s.FilesRestored, s.TotalFiles)
	if p.terminal {
		fmt.Fprintf(p.w, "\r\033[K%s", msg)
		p.drawn = true
		return
	}
	if summary || time.Since(p.last) >= 10*time.Second {
		p.last = time.Now()
		fmt.Fprintln(p.w, msg)
	}
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// HumanBytes formats a byte count with binary units (1.5 MiB).
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
