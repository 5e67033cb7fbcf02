package lab

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Pos is a position in a lab repo file, 1-based.
type Pos struct {
	Line, Col int
}

// Error is one problem in the lab repo, located as file:line:col.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Errors collects every problem found in one load, so that a user sees
// them all at once. It is itself an error when non-empty; its text lists
// the first MaxErrors problems and counts the rest.
type Errors struct {
	List []*Error
	// More counts the problems found beyond those kept in List.
	More int
	seen map[errorPos]bool
}

type errorPos struct {
	file      string
	line, col int
}

// maxKept bounds List: past it problems are only counted, so that an
// input with an error on every byte costs no more than one with a few.
const maxKept = 1000

// Add records a problem. A second problem at the same position is
// dropped: the first (a value that did not even parse) explains it.
func (e *Errors) Add(file string, line, col int, msg string) {
	if line != 0 {
		k := errorPos{file, line, col}
		if e.seen[k] {
			return
		}
		if e.seen == nil {
			e.seen = map[errorPos]bool{}
		}
		e.seen[k] = true
	}
	if len(e.List) >= maxKept {
		e.More++
		return
	}
	e.List = append(e.List, &Error{File: file, Line: line, Col: col, Msg: msg})
}

// At records a problem at a position of homelab.yaml.
func (e *Errors) At(p Pos, format string, args ...any) {
	e.Add(LabFile, p.Line, p.Col, fmt.Sprintf(format, args...))
}

// Err returns nil when nothing was recorded, the sorted list otherwise.
func (e *Errors) Err() error {
	if len(e.List) == 0 && e.More == 0 {
		return nil
	}
	slices.SortStableFunc(e.List, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return e
}

func (e *Errors) Error() string {
	n := min(len(e.List), MaxErrors)
	lines := make([]string, n, n+1)
	for i, x := range e.List[:n] {
		lines[i] = x.Error()
	}
	if more := len(e.List) - n + e.More; more > 0 {
		lines = append(lines, fmt.Sprintf("... and %d more problems (fix these first)", more))
	}
	return strings.Join(lines, "\n")
}
