package secrets

import "sort"

// Conflict is a secret set both locally (secrets.env or the environment)
// and in another source with a different value. The local value wins, so
// that an emergency fix on the host holds until the repo catches up.
type Conflict struct {
	Name   string
	Source string // the other source, e.g. secrets/cloud.env.age
}

func (c Conflict) String() string {
	return "secret " + c.Name + " differs between " + File + " and " + c.Source + "; the local value wins"
}

// AddLower adds values from a source below the local ones: a name the
// store already has keeps its value, and differing values are returned
// (and remembered, see Conflicts), sorted by name. Empty values count as
// not set.
func (s *Store) AddLower(values map[string]string, source string) []Conflict {
	var out []Conflict
	for n, v := range values {
		if v == "" || !ValidName(n) {
			continue
		}
		if have, ok := s.values[n]; ok {
			if have != v {
				out = append(out, Conflict{Name: n, Source: source})
			}
			continue
		}
		s.values[n] = v
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	s.conflicts = append(s.conflicts, out...)
	return out
}

// Conflicts returns what AddLower found, values never included.
func (s *Store) Conflicts() []Conflict {
	if s == nil {
		return nil
	}
	return s.conflicts
}

// With returns a copy of the store in which name has value (a rotation
// opens a credential with its old value). Conflicts are not copied.
func (s *Store) With(name, value string) *Store {
	c := &Store{values: map[string]string{}}
	if s != nil {
		for k, v := range s.values {
			c.values[k] = v
		}
	}
	c.values[name] = value
	return c
}
