package files

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aymanbagabas/go-udiff/lcs"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Secret lines in diffs. A file diff never shows a line that holds a
// secret or held one, and never relies on finding values in text (an old
// value is no longer in the store after a rotation; a short value would
// match unrelated text). It works on lines, by position:
//
//   - a line of the new content is a secret line when the template line it
//     comes from holds a ${secret:NAME} (all the lines a multi-line value
//     expands to);
//   - a line of the old content that the diff pairs with a new line (an
//     unchanged line) is a secret line when that new line is;
//   - an old line the diff removes or replaces is a secret line when it
//     is what a new secret line replaced: in a change block of as many old
//     lines as new ones, the new line at its place is a secret line; in a
//     block of unequal sizes, any new line of the block is. It is also a
//     secret line when it has the shape of a secret line of the template
//     (the same text around the reference: "password=…"), or when it holds
//     a value the store knows (secrets.Store.Holds).
//
// A secret line is shown as «secret:NAME» when unchanged or in a new
// file, and as «secret:NAME changed» when removed or added. What this
// cannot see: an old secret line whose text around the value changed in
// the same commit and that is paired, place for place, with a plain new
// line; a value still in the store is redacted even then.

// expandLines expands a template line by line and says, for each line of
// the result, which secrets it holds (nil for none).
func expandLines(tmpl string, store *secrets.Store) (string, [][]string, error) {
	var b strings.Builder
	var mask [][]string
	for _, tl := range splitLines(tmpl) {
		v, err := store.Expand(tl)
		if err != nil {
			return "", nil, err
		}
		b.WriteString(v)
		names := secrets.Names(tl)
		for range splitLines(v) {
			mask = append(mask, names)
		}
	}
	return b.String(), mask, nil
}

// shapes are the secret lines of a template as patterns over old lines:
// their text with each reference matching anything. Lines made of
// references alone give no shape (they would match every line).
func shapes(tmpl string) map[*regexp.Regexp][]string {
	out := map[*regexp.Regexp][]string{}
	for _, tl := range splitLines(tmpl) {
		tl = strings.TrimRight(tl, "\r\n")
		refs := secrets.Find(tl)
		if len(refs) == 0 || strings.Contains(tl, "\n") {
			continue
		}
		var pat strings.Builder
		literal, last := "", 0
		pat.WriteString("^")
		for _, r := range refs {
			if r.Problem != "" {
				break
			}
			pat.WriteString(regexp.QuoteMeta(tl[last:r.Offset]) + ".*")
			literal += tl[last:r.Offset]
			last = r.Offset + len("${secret:}") + len(r.Name)
		}
		pat.WriteString(regexp.QuoteMeta(tl[last:]) + "$")
		literal += tl[last:]
		if strings.TrimSpace(literal) == "" {
			continue
		}
		if re, err := regexp.Compile(pat.String()); err == nil {
			out[re] = secrets.Names(tl)
		}
	}
	return out
}

// diffWithSecrets is the unified diff of a file's old content and its
// template expanded with store, with every secret line hidden.
func diffWithSecrets(path, old, tmpl string, store *secrets.Store, existed bool) (string, error) {
	want, newMask, err := expandLines(tmpl, store)
	if err != nil {
		return "", err
	}
	if !utf8.ValidString(old) || !utf8.ValidString(want) {
		return unified(path, old, want, existed), nil
	}
	oldLines, newLines := splitLines(old), splitLines(want)
	oldMask := make([][]string, len(oldLines))
	shape := shapes(tmpl)
	i, j := 0, 0
	pairUpTo := func(end int) {
		for ; i < end; i, j = i+1, j+1 {
			oldMask[i] = newMask[j]
		}
	}
	for _, d := range lcs.DiffLines(trimAll(oldLines), trimAll(newLines)) {
		pairUpTo(d.Start)
		var block []string
		for _, names := range newMask[d.ReplStart:d.ReplEnd] {
			block = union(block, names)
		}
		oneToOne := d.End-d.Start == d.ReplEnd-d.ReplStart
		for k := d.Start; k < d.End; k++ {
			names := block
			if oneToOne {
				names = newMask[d.ReplStart+k-d.Start]
			}
			for re, n := range shape {
				if re.MatchString(strings.TrimRight(oldLines[k], "\r\n")) {
					names = union(names, n)
				}
			}
			names = union(names, store.Holds(oldLines[k]))
			oldMask[k] = names
		}
		i, j = d.End, d.ReplEnd
	}
	pairUpTo(len(oldLines))

	// Each distinct secret line becomes a token, so equal lines stay equal.
	ids := map[string]int{}
	names := map[int][]string{}
	mask := func(lines []string, masks [][]string) string {
		var b strings.Builder
		for k, l := range lines {
			if len(masks[k]) == 0 {
				b.WriteString(l)
				continue
			}
			body := strings.TrimRight(l, "\n")
			id, ok := ids[body]
			if !ok {
				id = len(ids)
				ids[body] = id
			}
			names[id] = union(names[id], masks[k])
			b.WriteString("\x00" + strconv.Itoa(id) + "\x00" + l[len(body):])
		}
		return b.String()
	}
	mo, mn := mask(oldLines, oldMask), mask(newLines, newMask)
	d := unified(path, mo, mn, existed)
	var out strings.Builder
	for _, l := range strings.SplitAfter(d, "\n") {
		if a := strings.IndexByte(l, 0); a >= 0 {
			b := strings.IndexByte(l[a+1:], 0)
			id, _ := strconv.Atoi(l[a+1 : a+1+b])
			note := "«secret:" + strings.Join(names[id], ",") + "»"
			if existed && (l[0] == '-' || l[0] == '+') {
				note = "«secret:" + strings.Join(names[id], ",") + " changed»"
			}
			l = l[:1] + note + l[a+1+b+1:]
		}
		out.WriteString(l)
	}
	return out.String(), nil
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

func trimAll(lines []string) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.TrimSuffix(l, "\n")
	}
	return out
}

func union(a, b []string) []string {
	for _, n := range b {
		if !slices.Contains(a, n) {
			a = append(slices.Clip(a), n)
		}
	}
	slices.Sort(a)
	return a
}
