package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"filippo.io/age"
)

// Listing is one secret across the files: where it is set and when,
// which hosts need it and lack it, which hold it without needing it.
type Listing struct {
	Name     string
	Set      map[string]time.Time // host (or Admin) → when set (zero: unknown)
	Missing  []string             // hosts that need it and lack it
	Unneeded []string             // hosts that hold it and do not need it
}

// List lists every secret named in a file or needed by a host, sorted.
// It never returns a value.
func (r *Repo) List(needs map[string][]string) ([]Listing, error) {
	files, err := r.Files()
	if err != nil {
		return nil, err
	}
	hosts := append(slices.Clone(files), sortedKeys(needs)...)
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	by := map[string]*Listing{}
	get := func(n string) *Listing {
		if by[n] == nil {
			by[n] = &Listing{Name: n, Set: map[string]time.Time{}}
		}
		return by[n]
	}
	for _, h := range hosts {
		v, err := r.Read(h)
		if err != nil {
			return nil, err
		}
		for n, e := range v {
			l := get(n)
			l.Set[h] = e.Set
			if h != Admin && !slices.Contains(needs[h], n) {
				l.Unneeded = append(l.Unneeded, h)
			}
		}
		for _, n := range needs[h] {
			if _, ok := v[n]; !ok {
				l := get(n)
				l.Missing = append(l.Missing, h)
			}
		}
	}
	out := make([]Listing, 0, len(by))
	for _, n := range sortedKeys(by) {
		out = append(out, *by[n])
	}
	return out, nil
}

// RekeyReport says what Rekey did, names and hosts only.
type RekeyReport struct {
	Written []string  // files written (hosts, Admin)
	Copied  []string  // "NAME → host": a value copied from another host's file
	Dropped []string  // "NAME from host": a value the host does not need, removed (prune)
	Kept    []string  // "NAME on host": a value the host does not need, kept
	Removed []string  // files of hosts no longer in the lab
	Missing []Missing // still missing after the rekey
}

// Rekey re-encrypts every file to the current recipients (newMaster, when
// not nil, replaces the master key: every host identity changes with it)
// and gives each host the secrets it needs: a needed value the host's
// file lacks is copied from another file when all files agree on it; a
// value the host does not need (by validate's reckoning: a key read by the
// agent itself, such as FLEET_KEY, is not in it) is kept, or dropped with
// prune; the file of a host no longer in the lab is removed. All files are
// encrypted before any is written.
func (r *Repo) Rekey(needs map[string][]string, newMaster *age.X25519Identity, prune bool) (*RekeyReport, error) {
	files, err := r.Files()
	if err != nil {
		return nil, err
	}
	old := map[string]Values{}
	for _, h := range files {
		if old[h], err = r.Read(h); err != nil {
			return nil, err
		}
	}
	rep := &RekeyReport{}
	next := map[string]Values{}
	if v, ok := old[Admin]; ok {
		next[Admin] = v
	}
	for _, h := range sortedKeys(needs) {
		if len(needs[h]) == 0 && old[h] == nil {
			continue
		}
		nv := Values{}
		for _, n := range needs[h] {
			if e, ok := old[h][n]; ok {
				nv[n] = e
				continue
			}
			e, ok, err := agreed(old, n)
			if err != nil {
				return nil, err
			}
			if !ok {
				rep.Missing = append(rep.Missing, Missing{Host: h, Name: n})
				continue
			}
			nv[n] = e
			rep.Copied = append(rep.Copied, n+" → "+h)
		}
		for _, n := range old[h].Names() {
			if _, ok := nv[n]; ok {
				continue
			}
			if prune {
				rep.Dropped = append(rep.Dropped, n+" from "+h)
			} else {
				nv[n] = old[h][n]
				rep.Kept = append(rep.Kept, n+" on "+h)
			}
		}
		next[h] = nv
	}
	for _, h := range files {
		if _, ok := next[h]; !ok {
			rep.Removed = append(rep.Removed, h)
		}
	}
	w := *r
	if newMaster != nil {
		w.Master = newMaster
	}
	if err := w.WriteAll(next); err != nil {
		return nil, err
	}
	for _, h := range rep.Removed {
		if err := os.Remove(filepath.Join(r.Dir, FileOf(h))); err != nil {
			return nil, err
		}
	}
	rep.Written = sortedKeys(next)
	return rep, nil
}

// agreed finds name's value in the files; several different values are
// an error naming the files, never the values.
func agreed(files map[string]Values, name string) (Entry, bool, error) {
	var found Entry
	var where []string
	for _, h := range sortedKeys(files) {
		e, ok := files[h][name]
		if !ok {
			continue
		}
		if len(where) > 0 && e.Value != found.Value {
			return Entry{}, false, fmt.Errorf("secret %s has different values in %s and %s: set it with homelab-agent secrets set %s", name, FileOf(where[0]), FileOf(h), name)
		}
		if len(where) == 0 || e.Set.After(found.Set) {
			found = e
		}
		where = append(where, h)
	}
	return found, len(where) > 0, nil
}

// TempBase is where Edit puts its decrypted file: $XDG_RUNTIME_DIR (a
// per-user tmpfs), else /dev/shm (tmpfs), else the temp folder.
func TempBase() string {
	for _, d := range []string{os.Getenv("XDG_RUNTIME_DIR"), "/dev/shm"} {
		if fi, err := os.Stat(d); d != "" && err == nil && fi.IsDir() {
			return d
		}
	}
	return os.TempDir()
}

// Edit decrypts host's file into a fresh 0700 folder under TempBase, lets
// edit change it (e.g. $EDITOR), parses and re-encrypts it, and removes
// the folder whatever happens. It reports whether the file changed.
// Values edited keep their time; new or changed ones get now.
func (r *Repo) Edit(host string, edit func(path string) error) (bool, error) {
	v, err := r.Read(host)
	if err != nil {
		return false, err
	}
	dir, err := os.MkdirTemp(TempBase(), "homelab-secrets-")
	if err != nil {
		return false, err
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o700); err != nil {
		return false, err
	}
	p := filepath.Join(dir, host+".env")
	if err := os.WriteFile(p, v.Marshal(host), 0o600); err != nil {
		return false, err
	}
	if err := edit(p); err != nil {
		return false, fmt.Errorf("editing %s: %w", FileOf(host), err)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return false, err
	}
	nv, err := Unmarshal(data)
	if err != nil {
		return false, &Error{File: FileOf(host), Host: host, Err: fmt.Errorf("the edited file: %w; nothing written", err)}
	}
	changed := len(nv) != len(v)
	for n, e := range nv {
		if o, ok := v[n]; ok && o.Value == e.Value {
			e.Set = o.Set
		} else {
			e.Set = r.now()
			changed = true
		}
		nv[n] = e
	}
	if !changed {
		return false, nil
	}
	return true, r.WriteAll(map[string]Values{host: nv})
}

// ErrNotOwned is returned by Rotate for a secret no role or primitive
// declares it can rotate.
var ErrNotOwned = errors.New("not a credential the agent owns")

// Rotate sets name to a fresh Generate value in the files of hosts.
// owned lists the secrets the agent can apply where they live.
func (r *Repo) Rotate(name string, hosts, owned []string) error {
	if !slices.Contains(owned, name) {
		sort.Strings(owned)
		return fmt.Errorf("secret %s: %w (it can rotate: %v); set a new value with homelab-agent secrets set %s", name, ErrNotOwned, owned, name)
	}
	if len(hosts) == 0 {
		return fmt.Errorf("secret %s: no host needs it", name)
	}
	return r.Set(name, Generate(), hosts)
}
