package secrets

import (
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MinRedactLen is the length from which a secret value is hidden wherever
// it appears in free text. A shorter value is hidden only where it stands
// alone (not inside a word: a one-character secret "e" must not turn
// "home.example" into "home.«secret:X»xample"); it cannot be told apart
// from ordinary text, and it is a weak secret anyway. File diffs do not
// rely on this: they hide whole lines by where secrets are (agent/files).
const MinRedactLen = 8

// Redact replaces every known secret value in text with «secret:NAME»:
// values of MinRedactLen bytes or more wherever they appear, shorter ones
// where they are a whole word. Longer values are replaced first so that
// one value containing another is hidden whole.
func (s *Store) Redact(text string) string {
	if s == nil || len(s.values) == 0 {
		return text
	}
	for _, n := range s.byLength() {
		v := s.values[n]
		mark := "«secret:" + n + "»"
		if len(v) >= MinRedactLen {
			text = strings.ReplaceAll(text, v, mark)
			continue
		}
		text = replaceWords(text, v, mark)
	}
	return text
}

// Holds names the secrets whose values appear in text by Redact's rule.
func (s *Store) Holds(text string) []string {
	if s == nil {
		return nil
	}
	var out []string
	for _, n := range s.byLength() {
		v := s.values[n]
		if (len(v) >= MinRedactLen && strings.Contains(text, v)) || (len(v) < MinRedactLen && replaceWords(text, v, "") != text) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

// byLength lists the names of non-empty values, longest value first.
func (s *Store) byLength() []string {
	names := make([]string, 0, len(s.values))
	for n, v := range s.values {
		if v != "" {
			names = append(names, n)
		}
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := s.values[names[i]], s.values[names[j]]
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return names[i] < names[j]
	})
	return names
}

// replaceWords replaces v in text where it is not part of a word: the
// characters around it are not letters, digits or '_' (or v's own edge
// is not one).
func replaceWords(text, v, mark string) string {
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	var b strings.Builder
	done := 0 // text[:done] is written
	for from := 0; ; {
		k := strings.Index(text[from:], v)
		if k < 0 {
			break
		}
		i := from + k
		before, _ := utf8.DecodeLastRuneInString(text[:i])
		after, _ := utf8.DecodeRuneInString(text[i+len(v):])
		if (i > 0 && isWord(before) && isWord(first)) || (i+len(v) < len(text) && isWord(after) && isWord(last)) {
			from = i + 1
			continue
		}
		b.WriteString(text[done:i] + mark)
		done = i + len(v)
		from = done
	}
	b.WriteString(text[done:])
	return b.String()
}

func isWord(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }
