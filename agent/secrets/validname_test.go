package secrets

import (
	"strings"
	"testing"
)

// TestValidNameEdges checks the name rule at every edge of its ranges:
// the first and last letter and digit, the characters just outside them,
// and the length limit.
func TestValidNameEdges(t *testing.T) {
	for name, want := range map[string]bool{
		"A": true, "Z": true, "AZ": true, "A0": true, "A9": true, "A_": true, "ZA_09": true,
		"": false, "0A": false, "_A": false, "a": false, "@": false, "[": false,
		"A@": false, "A[": false, "A/": false, "A:": false, "Aa": false, "A-": false,
		"A" + strings.Repeat("B", 63): true, "A" + strings.Repeat("B", 64): false,
	} {
		if got := ValidName(name); got != want {
			t.Errorf("ValidName(%q) = %v, want %v", name, got, want)
		}
	}
}
