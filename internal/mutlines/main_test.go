package main

import (
	"strings"
	"testing"
)

func TestSwapIsGremlinsTokenSwap(t *testing.T) {
	src := []byte("package p\n\nfunc f(a, b int) bool {\n\treturn a-b >= -1 && a != b\n}\n")
	for _, tc := range []struct {
		kind string
		col  int
		want string
	}{
		{"CONDITIONALS_BOUNDARY", 13, "return a-b > -1 && a != b"},
		{"CONDITIONALS_NEGATION", 13, "return a-b < -1 && a != b"},
		{"ARITHMETIC_BASE", 10, "return a+b >= -1 && a != b"},
		{"INVERT_NEGATIVES", 16, "return a-b >= +1 && a != b"},
		{"CONDITIONALS_NEGATION", 24, "return a-b >= -1 && a == b"},
	} {
		out, _, _, err := swap(src, &mutant{file: "p.go", kind: tc.kind, line: 4, col: tc.col})
		if err != nil {
			t.Fatalf("%s at col %d: %v", tc.kind, tc.col, err)
		}
		if !strings.Contains(string(out), "\t"+tc.want+"\n") {
			t.Errorf("%s at col %d:\n%s", tc.kind, tc.col, out)
		}
	}
	// A position with no such token is an error, not a silent no-op.
	if _, _, _, err := swap(src, &mutant{file: "p.go", kind: "INCREMENT_DECREMENT", line: 4, col: 13}); err == nil {
		t.Error("swapped >= as an increment")
	}
	if _, _, _, err := swap(src, &mutant{file: "p.go", kind: "ARITHMETIC_BASE", line: 9, col: 1}); err == nil {
		t.Error("swapped a token past the end")
	}
}

func TestCovers(t *testing.T) {
	b := block{sl: 10, sc: 5, el: 12, ec: 3}
	for _, tc := range []struct {
		line, col int
		want      bool
	}{{10, 5, true}, {10, 4, false}, {11, 1, true}, {12, 3, true}, {12, 4, false}, {9, 80, false}, {13, 1, false}} {
		if got := covers(b, tc.line, tc.col); got != tc.want {
			t.Errorf("covers(%d:%d) = %v", tc.line, tc.col, got)
		}
	}
}
