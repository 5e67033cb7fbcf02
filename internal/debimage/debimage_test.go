package debimage

import (
	"strings"
	"testing"
)

// TestTagFollowsTheRecipe: the tag is a hash of everything that decides
// the image's content, so a cached image is reused exactly when nothing
// changed.
func TestTagFollowsTheRecipe(t *testing.T) {
	base := Recipe{Name: "x", Packages: []string{"a", "b"}, Files: map[string]string{"/f": "1", "/g": "2"}, Script: "true", Changes: []string{"CMD [\"a\"]"}}
	tag := base.Tag()
	if !strings.HasPrefix(tag, "x:") || len(tag) != len("x:")+12 {
		t.Fatalf("tag %q", tag)
	}
	same := base
	same.Files = map[string]string{"/g": "2", "/f": "1"}
	same.Suite = "trixie" // the default, spelled out
	if same.Tag() != tag {
		t.Errorf("the same recipe has another tag: %s vs %s", same.Tag(), tag)
	}
	for name, change := range map[string]func(*Recipe){
		"suite":    func(r *Recipe) { r.Suite = "bookworm" },
		"mirror":   func(r *Recipe) { r.Mirror = "http://example.org/debian" },
		"packages": func(r *Recipe) { r.Packages = []string{"a"} },
		"file":     func(r *Recipe) { r.Files = map[string]string{"/f": "1", "/g": "3"} },
		"script":   func(r *Recipe) { r.Script = "false" },
		"changes":  func(r *Recipe) { r.Changes = nil },
	} {
		r := base
		change(&r)
		if r.Tag() == tag {
			t.Errorf("changing the %s keeps the tag", name)
		}
	}
}
