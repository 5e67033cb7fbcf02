package gitsync

import "testing"

func TestProbeTarget(t *testing.T) {
	for in, want := range map[string]string{
		"https://git.home.example/lab.git":      "git.home.example:443",
		"https://tok@git.home.example:8443/lab": "git.home.example:8443",
		"http://127.0.0.1:3000/lab.git":         "127.0.0.1:3000",
		"ssh://git@git.home.example:2222/lab":   "git.home.example:2222",
		"git@github.com:me/lab.git":             "github.com:22",
		"github.com:me/lab.git":                 "github.com:22",
		"/srv/lab.git":                          "",
		"file:///srv/lab.git":                   "",
		"./lab":                                 "",
	} {
		if got := ProbeTarget(in); got != want {
			t.Errorf("ProbeTarget(%q) = %q, want %q", in, got, want)
		}
	}
}
