package files

import (
	"regexp"
	"slices"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/resource"
	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// contentDiff is the diff shown for an update. Redact hides the values
// the store knows, but the old file on disk may hold an old value (a
// rotated or repo-overridden secret) that no store knows. So the old
// content is matched against the template: where it follows the template
// as a whole, its text at each reference is masked like the new side and
// the secrets whose value changed are named; where it does not (the
// literal text changed too), each old line that matches a template line
// with references is masked the same way. What is left is redacted with
// the known values, as before.
func (f *File) contentDiff(env *resource.Env, old []byte, want string) (diff string, changed []string) {
	tmpl := string(f.Content)
	if len(secrets.Find(tmpl)) == 0 {
		return env.Secrets.Redact(unified(f.Path, string(old), want, true)), nil
	}
	masked, changed, ok := maskTemplate(env, tmpl, string(old))
	if !ok {
		lines := strings.SplitAfter(string(old), "\n")
		var tl []string
		for _, l := range strings.SplitAfter(tmpl, "\n") {
			if len(secrets.Find(l)) > 0 {
				tl = append(tl, l)
			}
		}
		for i, l := range lines {
			for _, t := range tl {
				if m, ch, ok := maskTemplate(env, t, l); ok {
					lines[i] = m
					for _, n := range ch {
						if !slices.Contains(changed, n) {
							changed = append(changed, n)
						}
					}
					break
				}
			}
		}
		masked = strings.Join(lines, "")
	}
	return env.Secrets.Redact(unified(f.Path, masked, want, true)), changed
}

// maskTemplate matches text against tmpl, whose ${secret:NAME} references
// match anything, and returns text with the matched parts replaced by
// placeholders and the names whose value in text differs from the store's.
func maskTemplate(env *resource.Env, tmpl, text string) (string, []string, bool) {
	refs := secrets.Find(tmpl)
	var pat strings.Builder
	pat.WriteString(`(?s)\A`)
	last := 0
	var names []string
	for _, r := range refs {
		if r.Problem != "" {
			return "", nil, false
		}
		pat.WriteString(regexp.QuoteMeta(tmpl[last:r.Offset]))
		pat.WriteString(`(.*?)`)
		names = append(names, r.Name)
		last = r.Offset + len("${secret:") + len(r.Name) + 1
	}
	pat.WriteString(regexp.QuoteMeta(tmpl[last:]) + `\z`)
	re, err := regexp.Compile(pat.String())
	if err != nil {
		return "", nil, false
	}
	m := re.FindStringSubmatchIndex(text)
	if m == nil {
		return "", nil, false
	}
	var b strings.Builder
	var changed []string
	prev := 0
	for i, n := range names {
		start, end := m[2+2*i], m[3+2*i]
		b.WriteString(text[prev:start])
		b.WriteString(secrets.Placeholder(n))
		prev = end
		if v, ok := env.Secrets.Lookup(n); ok && v != text[start:end] && !slices.Contains(changed, n) {
			changed = append(changed, n)
		}
	}
	b.WriteString(text[prev:])
	return b.String(), changed, true
}
