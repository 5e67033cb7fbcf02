package images

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/Masterminds/semver/v3"
)

// version is a tag read as a version: an optional "v", one to three dot
// numbers, and a suffix ("-apache", "-alpine") that must match exactly
// between tags of one line.
type version struct {
	tag    string
	v      bool
	parts  int // how many numbers the tag has: "30" 1, "30.0" 2, "30.0.4" 3
	suffix string
	sv     *semver.Version
}

var versionTag = regexp.MustCompile(`^(v?)(\d+)(?:\.(\d+))?(?:\.(\d+))?((?:-[A-Za-z0-9][A-Za-z0-9._-]*)?)$`)

// parseTag reads a tag as a version; ok is false for "latest", "apache".
func parseTag(tag string) (version, bool) {
	m := versionTag.FindStringSubmatch(tag)
	if m == nil {
		return version{}, false
	}
	parts := 1
	nums := []string{m[2], "0", "0"}
	for i, s := range m[3:5] {
		if s != "" {
			parts = i + 2
			nums[i+1] = s
		}
	}
	for _, n := range nums {
		if _, err := strconv.ParseUint(n, 10, 32); err != nil {
			return version{}, false
		}
	}
	sv, err := semver.StrictNewVersion(strings.Join(nums, "."))
	if err != nil {
		return version{}, false
	}
	return version{tag: tag, v: m[1] == "v", parts: parts, suffix: m[5], sv: sv}, true
}

// Versioned reports whether a tag can be followed by patch or minor.
func Versioned(tag string) bool {
	_, ok := parseTag(tag)
	return ok
}

// Major is a version tag's major number (ok false for other tags).
func Major(tag string) (uint64, bool) {
	v, ok := parseTag(tag)
	if !ok {
		return 0, false
	}
	return v.sv.Major(), true
}

// NextTag is the tag a patch or minor policy moves a service to: the
// highest full X.Y.Z tag of the same line (same "v", same suffix) within
// base's range (patch: base's major.minor; minor: base's major) that is
// not older than running. base is the tag the compose file names (its
// range), running the tag the service runs now (base when never
// updated). ok is false when base is not a version tag; the result is
// running when nothing newer exists.
func NextTag(p Policy, base, running string, tags []string) (string, bool) {
	b, ok := parseTag(base)
	if !ok {
		return "", false
	}
	cur, ok := parseTag(running)
	if !ok || !sameLine(b, cur) {
		cur = b
	}
	best := cur
	for _, t := range tags {
		v, ok := parseTag(t)
		if !ok || v.parts != 3 || !sameLine(b, v) || !inRange(p, b, cur, v) {
			continue
		}
		if v.sv.GreaterThan(best.sv) || (v.sv.Equal(best.sv) && best.parts < 3) {
			best = v
		}
	}
	return best.tag, true
}

// StepTag is the tag a one-major-at-a-time service takes on its way from
// running to want: want itself when it is at most one major ahead, else
// the highest full X.Y.Z tag of the major after running's. ok is false
// when either tag is not a version or no tag of the next major exists.
func StepTag(running, want string, tags []string) (string, bool) {
	r, ok1 := parseTag(running)
	w, ok2 := parseTag(want)
	if !ok1 || !ok2 {
		return "", false
	}
	if w.sv.Major() <= r.sv.Major()+1 {
		return want, true
	}
	next := r.sv.Major() + 1
	var best *version
	for _, t := range tags {
		v, ok := parseTag(t)
		if !ok || v.parts != 3 || !sameLine(w, v) || v.sv.Major() != next {
			continue
		}
		if best == nil || v.sv.GreaterThan(best.sv) {
			best = &v
		}
	}
	if best == nil {
		return "", false
	}
	return best.tag, true
}

func sameLine(a, b version) bool { return a.v == b.v && a.suffix == b.suffix }

// inRange: patch keeps base's major.minor (running's minor when base
// names only a major), minor keeps base's major.
func inRange(p Policy, base, cur, v version) bool {
	switch p {
	case Patch:
		minor := base.sv.Minor()
		if base.parts < 2 {
			minor = cur.sv.Minor()
		}
		return v.sv.Major() == base.sv.Major() && v.sv.Minor() == minor
	case Minor:
		return v.sv.Major() == base.sv.Major()
	}
	return false
}
