package bootstrap

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/renameio/v2"
)

// ApplyOptions steer Apply.
type ApplyOptions struct {
	// Root prefixes the host paths of files the plan writes ("/" on the node).
	Root string
	// Reload brings the network file up (ifreload -a); nil skips it and the
	// result says so.
	Reload func(ctx context.Context) error
	// Parallel is how many VMs are created or repaired at once (default 8).
	Parallel int
	// AgentTimeout bounds the wait for a guest agent (default 10m).
	AgentTimeout time.Duration
	// Progress, if set, gets one line per finished step.
	Progress io.Writer
}

// Result is what Apply did.
type Result struct {
	Done    []string // summaries of finished steps
	Notes   []string
	Errors  []error
	Elapsed time.Duration
	// VMPhase is the wall time of the parallel VM phase; VMSteps the time
	// each VM's step took (their sum is what a serial run would take).
	VMPhase time.Duration
	VMSteps map[string]time.Duration
	Calls   int64
}

// Err joins the errors.
func (r *Result) Err() error { return errors.Join(r.Errors...) }

// Apply runs the plan: the setup steps one after the other, then every
// VM's step in parallel. A failed VM does not stop the others.
func Apply(ctx context.Context, c *Client, p *Plan, o ApplyOptions) *Result {
	start := time.Now()
	calls0 := c.Calls()
	if o.Parallel <= 0 {
		o.Parallel = 8
	}
	if o.AgentTimeout == 0 {
		o.AgentTimeout = 10 * time.Minute
	}
	res := &Result{VMSteps: map[string]time.Duration{}}
	var mu sync.Mutex
	done := func(st *Step, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			who := st.Kind
			if st.Host != "" {
				who = st.Host
			}
			res.Errors = append(res.Errors, fmt.Errorf("%s: %w", who, err))
			return
		}
		res.Done = append(res.Done, st.Summary)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "done: %s\n", st.Summary)
		}
	}
	for _, pr := range p.Problems {
		res.Errors = append(res.Errors, errors.New(pr))
	}
	for _, st := range p.Setup {
		err := runStep(ctx, c, st, o, res, &mu)
		done(st, err)
		if err != nil {
			res.Errors = append(res.Errors, errors.New("stopping before the VMs: the setup failed"))
			res.Elapsed, res.Calls = time.Since(start), c.Calls()-calls0
			return res
		}
	}
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	vmStart := time.Now()
	for _, st := range p.VMs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			t0 := time.Now()
			err := runStep(ctx, c, st, o, res, &mu)
			mu.Lock()
			res.VMSteps[st.Host] = time.Since(t0)
			mu.Unlock()
			done(st, err)
		}()
	}
	wg.Wait()
	res.VMPhase = time.Since(vmStart)
	res.Elapsed, res.Calls = time.Since(start), c.Calls()-calls0
	return res
}

func runStep(ctx context.Context, c *Client, st *Step, o ApplyOptions, res *Result, mu *sync.Mutex) error {
	for _, a := range st.Actions {
		switch {
		case a.Call != nil:
			params := url.Values{}
			for k, v := range a.Call.Params {
				params.Set(k, v)
			}
			if a.Call.Params["url"] != "" && a.Call.Params["checksum"] == "" && a.Call.Params["content"] == "import" {
				algo, sum, err := FetchChecksum(ctx, a.Call.Params["url"])
				if err != nil {
					return err
				}
				params.Set("checksum-algorithm", algo)
				params.Set("checksum", sum)
			}
			var err error
			if a.Call.Task {
				err = c.Task(ctx, a.Call.Method, a.Call.Path, params)
			} else {
				err = c.Do(ctx, a.Call.Method, a.Call.Path, params, nil)
			}
			if err != nil {
				return err
			}
		case a.WriteFile != "":
			path := filepath.Join(o.Root, a.WriteFile)
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				return err
			}
			mode := a.Mode
			if mode == 0 {
				mode = 0o644
			}
			if err := renameio.WriteFile(path, a.Data, mode); err != nil {
				return fmt.Errorf("writing %s: %w", path, err)
			}
		case a.Reload:
			if o.Reload == nil {
				mu.Lock()
				res.Notes = append(res.Notes, fmt.Sprintf("not reloading the network (root is %s): run `ifreload -a` on the node", o.Root))
				mu.Unlock()
				continue
			}
			if err := o.Reload(ctx); err != nil {
				return fmt.Errorf("reloading the network: %w", err)
			}
		case a.WaitAgent:
			if err := c.WaitAgent(ctx, a.Node, a.VMID, o.AgentTimeout); err != nil {
				return err
			}
		case a.KeepDisk != "":
			cfg, err := vmConfig(ctx, c, a.Node, a.VMID)
			if err != nil {
				return err
			}
			if got := propString(cfg[a.KeepDisk], "file")["file"]; got != a.Volume {
				return fmt.Errorf("data disk: %s is %q after the replacement, want %q", a.KeepDisk, got, a.Volume)
			}
		}
	}
	return nil
}

// WriteText prints the plan for people.
func (p *Plan) WriteText(w io.Writer) {
	for _, pr := range p.Problems {
		fmt.Fprintf(w, "error:   %s\n", pr)
	}
	for _, st := range append(append([]*Step{}, p.Setup...), p.VMs...) {
		fmt.Fprintf(w, "%-8s %s\n", st.Kind+":", st.Summary)
	}
	for _, d := range p.Drift {
		how := "needs a restart: fix it with --replace " + d.Host + " (keeps the data disk)"
		if d.Live {
			how = "live: fixed with --yes"
		}
		fmt.Fprintf(w, "drift:   %s (VM %d): %s is %s, homelab.yaml says %s; %s\n", d.Host, d.VMID, d.Key, d.Got, d.Want, how)
	}
	for _, m := range p.Manual {
		fmt.Fprintf(w, "manual:  %s\n", m)
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintf(w, "skipped: %s (no vm: settings with a vmid)\n", strings.Join(p.Skipped, ", "))
	}
	if p.Empty() && len(p.Problems) == 0 {
		fmt.Fprintf(w, "no changes: %d VMs as homelab.yaml says", len(p.InOrder))
		if len(p.Drift) > 0 {
			fmt.Fprintf(w, " (%d drifted setting(s) reported above)", len(p.Drift))
		}
		fmt.Fprintln(w)
	}
}

// WriteJSON prints the plan's API requests as a JSON array of
// {"method","path","params"}.
func (p *Plan) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(p.Calls())
}
