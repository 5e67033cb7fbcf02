// Package vault owns the lab repo's encrypted secrets: one file per host,
// secrets/<host>.env.age, holding that host's NAME=value lines encrypted
// with age (X25519) to the master key's recipient and to the host's own
// identity, derived from the master key (DeriveHost). The files stay
// readable with the plain age CLI. On a host, LoadHost merges its file
// with the local secrets.env, which wins.
package vault

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Dir is the lab repo's folder of encrypted secrets.
const Dir = "secrets"

// Admin is the name of the file only the master key opens,
// secrets/admin.env.age: what bootstrap hands out (the lab repo's token
// or deploy key, the webhook secret) and values no host reads.
const Admin = "admin"

// MaxFile bounds an encrypted file's size.
const MaxFile = 1 << 20

// FileOf is the repo-relative path of a host's file (or Admin's).
func FileOf(host string) string { return path.Join(Dir, host+".env.age") }

// Entry is one secret in a file.
type Entry struct {
	Name, Value string
	// Set is when the value was last set (zero when unknown, e.g. a line
	// added with the age CLI).
	Set time.Time
}

// Values is the content of one file, by name.
type Values map[string]Entry

// Names returns the names, sorted.
func (v Values) Names() []string {
	out := make([]string, 0, len(v))
	for n := range v {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Map returns name → value.
func (v Values) Map() map[string]string {
	m := make(map[string]string, len(v))
	for n, e := range v {
		m[n] = e.Value
	}
	return m
}

const setMark = " set "

// Marshal renders the plaintext, sorted by name: a header comment, then
// per secret a comment with the time it was set and a NAME=value line.
// The value runs verbatim to the end of the line (Docker's --env-file
// format); a value with a line break, a control character, surrounding
// spaces or a leading double quote is written as a Go/JSON-style quoted
// string ("line one\nline two"), which Unmarshal reads back.
func (v Values) Marshal(host string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# homelab-agent secrets of %s (edit with: homelab-agent secrets edit --host %s)\n", host, host)
	for _, n := range v.Names() {
		e := v[n]
		if !e.Set.IsZero() {
			fmt.Fprintf(&b, "# %s%s%s\n", n, setMark, e.Set.UTC().Format(time.RFC3339))
		}
		fmt.Fprintf(&b, "%s=%s\n", n, quote(e.Value))
	}
	return b.Bytes()
}

func quote(s string) string {
	if s == "" || strings.HasPrefix(s, `"`) || strings.TrimSpace(s) != s ||
		strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return strconv.Quote(s)
	}
	return s
}

// Unmarshal parses a plaintext: blank lines and # comments, NAME=value
// lines (see Marshal). Errors give line numbers and never quote the text.
func Unmarshal(data []byte) (Values, error) {
	v := Values{}
	set := map[string]time.Time{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(trimmed, "#"); ok {
			name, when, ok := strings.Cut(strings.TrimSpace(rest), setMark)
			if t, err := time.Parse(time.RFC3339, strings.TrimSpace(when)); ok && err == nil {
				set[name] = t
			}
			continue
		}
		name, val, ok := strings.Cut(line, "=")
		name = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), "export "))
		if !ok || !secrets.ValidName(name) {
			return nil, fmt.Errorf("line %d: want NAME=value with an upper-case NAME (letters, digits, _)", i+1)
		}
		if strings.HasPrefix(val, `"`) {
			u, err := strconv.Unquote(val)
			if err != nil {
				return nil, fmt.Errorf("line %d: %s: a value starting with \" must be a complete quoted string", i+1, name)
			}
			val = u
		}
		if _, dup := v[name]; dup {
			return nil, fmt.Errorf("line %d: %s is set twice", i+1, name)
		}
		if val == "" {
			continue
		}
		v[name] = Entry{Name: name, Value: val}
	}
	for n, t := range set {
		if e, ok := v[n]; ok {
			e.Set = t
			v[n] = e
		}
	}
	return v, nil
}

// Encrypt writes the armored age file of v for host to w.
func Encrypt(w io.Writer, host string, v Values, to ...age.Recipient) error {
	aw := armor.NewWriter(w)
	ew, err := age.Encrypt(aw, to...)
	if err != nil {
		return err
	}
	if _, err := ew.Write(v.Marshal(host)); err != nil {
		return err
	}
	if err := ew.Close(); err != nil {
		return err
	}
	return aw.Close()
}

// Decrypt reads an age file (armored or binary) with id.
func Decrypt(data []byte, id age.Identity) (Values, error) {
	if len(data) > MaxFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxFile)
	}
	var r io.Reader = bytes.NewReader(data)
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN AGE ENCRYPTED FILE-----")) {
		r = armor.NewReader(bytes.NewReader(data))
	}
	dr, err := age.Decrypt(r, id)
	if err != nil {
		var nm *age.NoIdentityMatchError
		if errors.As(err, &nm) {
			return nil, errors.New("not encrypted to this identity (wrong recipients; run homelab-agent secrets rekey)")
		}
		// age's header errors may quote the input: never pass them on.
		return nil, errors.New("damaged: not an age file, or its header is truncated or altered")
	}
	plain, err := io.ReadAll(io.LimitReader(dr, MaxFile+1))
	if err != nil {
		return nil, errors.New("damaged: truncated or tampered (the payload does not authenticate)")
	}
	return Unmarshal(plain)
}

// Error is a problem with one host's encrypted file.
type Error struct {
	File string // repo-relative, secrets/<host>.env.age
	Host string
	Err  error
}

func (e *Error) Error() string { return fmt.Sprintf("%s (host %s): %v", e.File, e.Host, e.Err) }
func (e *Error) Unwrap() error { return e.Err }
