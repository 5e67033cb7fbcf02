package fleet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// Peer is a host to ask and where its agent answers.
type Peer struct {
	Host string
	Role string
	Wave int
	Addr string
}

// Row is one host of the fleet view.
type Row struct {
	Peer
	Status *Status `json:"status,omitempty"`
	Error  string  `json:"error,omitempty"`
}

// Problems lists what is wrong with the row's host.
func (r Row) Problems() []string {
	if r.Error != "" {
		return []string{"unreachable: " + r.Error}
	}
	return r.Status.ProblemLines()
}

// Gather asks every peer at once.
func Gather(ctx context.Context, peers []Peer, key []byte, now time.Time) []Row {
	rows := make([]Row, len(peers))
	var wg sync.WaitGroup
	c := &http.Client{Timeout: 5 * time.Second}
	for i, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows[i].Peer = p
			s, err := Fetch(ctx, c, p.Addr, key, now)
			if err != nil {
				rows[i].Error = err.Error()
				return
			}
			rows[i].Status = s
		}()
	}
	wg.Wait()
	return rows
}

// WriteTable prints one line per host and its problems under it; it
// reports whether anything is wrong.
func WriteTable(w io.Writer, rows []Row, now time.Time) (wrong bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "HOST\tROLE\tWAVE\tAPPLIED\tLAST GOOD\tHEALTH\tLAST BACKUP\tSYNC\tDRIFT")
	var notes []string
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t-\t-\t?\t-\tunreachable\t-\n", r.Host, r.Role, r.Wave)
		} else {
			s := r.Status
			h := "-"
			if s.Healthy != nil {
				h = map[bool]string{true: "ok", false: "FAILING"}[*s.Healthy]
			}
			b := "-"
			if !s.LastBackup.IsZero() {
				b = now.Sub(s.LastBackup).Round(time.Minute).String() + " ago"
			}
			sync := "ok"
			if s.Stale {
				sync = fmt.Sprintf("stale %.0fs", s.StaleSeconds)
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\n", r.Host, r.Role, r.Wave, orDash(short(s.Applied)), orDash(short(s.LastGood)), h, b, sync, s.Drift)
		}
		for _, p := range r.Problems() {
			wrong = true
			notes = append(notes, r.Host+": "+p)
		}
	}
	tw.Flush()
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nproblems:")
		fmt.Fprintln(w, "  "+strings.Join(notes, "\n  "))
	}
	return wrong
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
