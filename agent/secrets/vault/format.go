package vault

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteList prints a listing for people: per secret, the files that hold
// it with the age of each value, and the hosts that need it and lack it
// or hold it without needing it. Never a value.
func WriteList(w io.Writer, ls []Listing, now time.Time) {
	if len(ls) == 0 {
		fmt.Fprintln(w, "no secrets")
		return
	}
	for _, l := range ls {
		var where []string
		for _, h := range sortedKeys(l.Set) {
			where = append(where, h+" ("+Age(now, l.Set[h])+")")
		}
		line := fmt.Sprintf("%-28s %s", l.Name, strings.Join(where, ", "))
		if len(where) == 0 {
			line = fmt.Sprintf("%-28s -", l.Name)
		}
		if len(l.Missing) > 0 {
			line += "; MISSING on " + strings.Join(l.Missing, ", ")
		}
		if len(l.Unneeded) > 0 {
			line += "; not needed by " + strings.Join(l.Unneeded, ", ") + " (secrets rekey drops it)"
		}
		fmt.Fprintln(w, line)
	}
}

// Age is how long ago t was, in the largest whole unit: 45s, 12m, 5h, 3d;
// "age unknown" for the zero time.
func Age(now, t time.Time) string {
	if t.IsZero() {
		return "age unknown"
	}
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", max(0, int(d.Seconds())))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}
