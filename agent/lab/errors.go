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
// them all at once. It is itself an error when non-empty.
type Errors struct {
	List []*Error
}

// Add records a problem. A second problem at the same position is
// dropped: the first (a value that did not even parse) explains it.
func (e *Errors) Add(file string, line, col int, msg string) {
	for _, x := range e.List {
		if x.File == file && x.Line == line && x.Col == col && line != 0 {
			return
		}
	}
	e.List = append(e.List, &Error{File: file, Line: line, Col: col, Msg: msg})
}

// At records a problem at a position of homelab.yaml.
func (e *Errors) At(p Pos, format string, args ...any) {
	e.Add(LabFile, p.Line, p.Col, fmt.Sprintf(format, args...))
}

// Err returns nil when nothing was recorded, the sorted list otherwise.
func (e *Errors) Err() error {
	if len(e.List) == 0 {
		return nil
	}
	slices.SortStableFunc(e.List, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return e
}

func (e *Errors) Error() string {
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = x.Error()
	}
	return strings.Join(lines, "\n")
}
