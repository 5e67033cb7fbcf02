package vault

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/google/renameio/v2"
)

// Repo is the admin's view of a lab repo's encrypted secrets: it opens
// every file with the master key and writes each to the master key's
// recipient and (except Admin) the host's derived one.
type Repo struct {
	Dir    string // the lab repo folder
	Master *age.X25519Identity
	Now    func() time.Time
}

func (r *Repo) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC().Truncate(time.Second)
	}
	return time.Now().UTC().Truncate(time.Second)
}

// Recipients are the recipients host's file is encrypted to.
func (r *Repo) Recipients(host string) ([]age.Recipient, error) {
	to := []age.Recipient{r.Master.Recipient()}
	if host == Admin {
		return to, nil
	}
	id, err := DeriveHost(r.Master, host)
	if err != nil {
		return nil, err
	}
	return append(to, id.Recipient()), nil
}

// Read opens host's file; a missing file is empty.
func (r *Repo) Read(host string) (Values, error) {
	rel := FileOf(host)
	data, err := readLimited(filepath.Join(r.Dir, rel))
	if errors.Is(err, os.ErrNotExist) {
		return Values{}, nil
	}
	if err != nil {
		return nil, &Error{File: rel, Host: host, Err: err}
	}
	v, err := Decrypt(data, r.Master)
	if err != nil {
		return nil, &Error{File: rel, Host: host, Err: err}
	}
	return v, nil
}

// encrypt renders host's file.
func (r *Repo) encrypt(host string, v Values) ([]byte, error) {
	to, err := r.Recipients(host)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := Encrypt(&b, host, v, to...); err != nil {
		return nil, &Error{File: FileOf(host), Host: host, Err: fmt.Errorf("encrypting: %w", err)}
	}
	return b.Bytes(), nil
}

// WriteAll encrypts every file first and writes them only when all
// encrypted, each atomically: a failure leaves the old files.
func (r *Repo) WriteAll(files map[string]Values) error {
	out := map[string][]byte{}
	for host, v := range files {
		b, err := r.encrypt(host, v)
		if err != nil {
			return err
		}
		out[host] = b
	}
	if err := os.MkdirAll(filepath.Join(r.Dir, Dir), 0o755); err != nil {
		return err
	}
	for _, host := range sortedKeys(out) {
		if err := renameio.WriteFile(filepath.Join(r.Dir, FileOf(host)), out[host], 0o644); err != nil {
			return &Error{File: FileOf(host), Host: host, Err: err}
		}
	}
	return nil
}

// Files lists the hosts (and Admin) that have a file, sorted.
func (r *Repo) Files() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(r.Dir, Dir))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if h, ok := strings.CutSuffix(e.Name(), ".env.age"); ok && !e.IsDir() {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out, nil
}

// HostsFor returns the hosts that need name, sorted.
func HostsFor(needs map[string][]string, name string) []string {
	var out []string
	for h, names := range needs {
		if slices.Contains(names, name) {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// Set sets name to value in the files of hosts (see HostsFor), all or
// none.
func (r *Repo) Set(name, value string, hosts []string) error {
	if value == "" {
		return fmt.Errorf("secret %s: empty value", name)
	}
	if strings.ContainsAny(value, "\x00") {
		return fmt.Errorf("secret %s: the value holds a NUL byte", name)
	}
	files := map[string]Values{}
	for _, h := range hosts {
		v, err := r.Read(h)
		if err != nil {
			return err
		}
		v[name] = Entry{Name: name, Value: value, Set: r.now()}
		files[h] = v
	}
	return r.WriteAll(files)
}

// Generate returns a strong random value: 256 bits as 52 characters of
// base32 (letters and digits only, safe in URLs, env files and SQL).
func Generate() string { return rand.Text() + rand.Text() }

// Missing is a secret a host needs that its file does not hold.
type Missing struct {
	Host, Name string
}

func (m Missing) Error() string {
	return fmt.Sprintf("%s (host %s): missing secret %s that the host needs; run: homelab-agent secrets set %s --host %s", FileOf(m.Host), m.Host, m.Name, m.Name, m.Host)
}

// Check returns, per host, the secrets it needs that its file lacks,
// sorted by host and name; a file that cannot be opened is an *Error.
func (r *Repo) Check(needs map[string][]string) ([]Missing, error) {
	var out []Missing
	for _, h := range sortedKeys(needs) {
		if len(needs[h]) == 0 {
			continue
		}
		v, err := r.Read(h)
		if err != nil {
			return nil, err
		}
		for _, n := range needs[h] {
			if _, ok := v[n]; !ok {
				out = append(out, Missing{Host: h, Name: n})
			}
		}
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
