package lazyre

import (
	"regexp"
	"testing"
)

func TestMatchesLikeRegexp(t *testing.T) {
	const expr = `^([a-z]+)-([0-9]{1,3})$`
	lazy, eager := New(expr), regexp.MustCompile(expr)
	for _, s := range []string{"abc-12", "abc-1234", "ABC-1", "x-0", ""} {
		if got, want := lazy.MatchString(s), eager.MatchString(s); got != want {
			t.Errorf("MatchString(%q) = %v, want %v", s, got, want)
		}
		if got, want := lazy.FindStringSubmatch(s), eager.FindStringSubmatch(s); len(got) != len(want) || (len(got) > 0 && got[2] != want[2]) {
			t.Errorf("FindStringSubmatch(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestBadExpressionPanicsOnFirstUse(t *testing.T) {
	r := New(`(`) // no panic here
	defer func() {
		if recover() == nil {
			t.Error("a bad expression did not panic on first use")
		}
	}()
	r.MatchString("x")
}
