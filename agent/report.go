package agent

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// ReportVersion is the version of the report's JSON form. Fields are only
// ever added; a removal or change of meaning bumps it.
const ReportVersion = 1

// Report is the outcome of a plan or apply pass; `plan --json` prints it.
type Report struct {
	Version int    `json:"version"`
	Host    string `json:"host"`
	Role    string `json:"role"`
	// Mode is "plan" or "apply".
	Mode   string `json:"mode"`
	Commit string `json:"commit,omitempty"`
	// Trigger says why the pass ran, for every change it made: the new
	// commit and the files it changed, or drift (the host changed outside
	// git while the commit stayed). Set by the daemon.
	Trigger string `json:"trigger,omitempty"`
	// Changed says whether anything differs (plan) or was changed (apply).
	Changed bool           `json:"changed"`
	Changes []ChangeResult `json:"changes"`
	Hooks   []HookResult   `json:"hooks"`
	Secrets SecretsReport  `json:"secrets"`
	// Skipped lists subsystems the host has resources in that the pass did
	// not run (--only, or machine-level subsystems under a folder --root).
	Skipped []string `json:"skipped_subsystems"`
	// Errors lists every failure of the pass, secrets redacted.
	Errors []string `json:"errors"`
}

// ChangeResult is one resource's change and what became of it.
type ChangeResult struct {
	resource.Change
	// Status is "planned" (plan), "applied", "failed" or "skipped".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// HookResult is one reload hook that a pass triggered.
type HookResult struct {
	Name string `json:"name"`
	// TriggeredBy lists the changed resource IDs (or "pending" when a
	// previous pass owed the hook).
	TriggeredBy []string `json:"triggered_by"`
	// Status is "planned", "ran", "failed" or "skipped".
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// SecretsReport names the secrets a host needs (never their values).
type SecretsReport struct {
	Needed  []string `json:"needed"`
	Missing []string `json:"missing"`
	// Conflicts names secrets set both in the local secrets.env and in the
	// host's encrypted file with different values (the local one wins).
	Conflicts []string `json:"conflicts,omitempty"`
}

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for a person.
func (r *Report) WriteText(w io.Writer, diffs bool) {
	verb := map[string]string{"plan": "would change", "apply": "changed"}[r.Mode]
	defer func() {
		for _, c := range r.Secrets.Conflicts {
			fmt.Fprintf(w, "  warning: %s\n", c)
		}
		if len(r.Skipped) > 0 {
			fmt.Fprintf(w, "  note: not run: %s (under a folder --root, name them with --only)\n", strings.Join(r.Skipped, ", "))
		}
	}()
	if !r.Changed && len(r.Errors) == 0 {
		fmt.Fprintf(w, "%s (%s): no changes\n", r.Host, r.Role)
		for _, c := range r.Changes {
			switch c.Status {
			case "held":
				fmt.Fprintf(w, "  = %s: %s\n", c.ID, c.Summary)
			case resource.ActionNotice:
				writeNotice(w, c, diffs)
			}
		}
		return
	}
	n := 0
	for _, c := range r.Changes {
		if c.Status != "failed" && c.Status != "skipped" && c.Status != "held" && c.Status != resource.ActionNotice {
			n++
		}
	}
	fmt.Fprintf(w, "%s (%s): %s %d resource(s)\n", r.Host, r.Role, verb, n)
	if r.Trigger != "" {
		fmt.Fprintf(w, "  because: %s\n", r.Trigger)
	}
	for _, c := range r.Changes {
		if c.Status == resource.ActionNotice {
			writeNotice(w, c, diffs)
			continue
		}
		mark := map[string]string{"create": "+", "update": "~", "delete": "-", resource.ActionHeld: "="}[c.Action]
		fmt.Fprintf(w, "  %s %s: %s", mark, c.ID, c.Summary)
		if c.Status == "failed" || c.Status == "skipped" {
			fmt.Fprintf(w, " [%s: %s]", c.Status, c.Error)
		}
		fmt.Fprintln(w)
		if diffs && c.Diff != "" {
			for _, line := range strings.SplitAfter(strings.TrimRight(c.Diff, "\n"), "\n") {
				fmt.Fprintf(w, "      %s", line)
			}
			fmt.Fprintln(w)
		}
	}
	for _, h := range r.Hooks {
		fmt.Fprintf(w, "  ! hook %s: %s (after %s)", h.Name, h.Status, strings.Join(h.TriggeredBy, ", "))
		if h.Error != "" {
			fmt.Fprintf(w, ": %s", h.Error)
		}
		fmt.Fprintln(w)
	}
	for _, e := range r.Errors {
		fmt.Fprintf(w, "  error: %s\n", e)
	}
}

// writeNotice prints a resource's notice (nothing changes) and its lines.
func writeNotice(w io.Writer, c ChangeResult, diffs bool) {
	fmt.Fprintf(w, "  i %s: %s\n", c.ID, c.Summary)
	if diffs && c.Diff != "" {
		for _, line := range strings.SplitAfter(strings.TrimRight(c.Diff, "\n"), "\n") {
			fmt.Fprintf(w, "      %s", line)
		}
		fmt.Fprintln(w)
	}
}
