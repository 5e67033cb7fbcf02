package docker

import (
	"regexp"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
)

// Source is where a compose project's desired state comes from.
type Source struct {
	// Name is the project name: the role's or the app's name. A compose
	// file's own top-level name: is ignored.
	Name string
	// Files are the compose files, merged in order (later ones override).
	Files []File
	// Dir is the lab repo folder the first file lives in: its .env feeds
	// interpolation and relative env_file paths resolve against it. Empty
	// for a role's embedded file.
	Dir string
	// Repo is the lab repo's top folder (Dir or above it): files are read
	// inside it only (a link leading out is refused). Empty means Dir.
	Repo string
	// Vars are interpolation defaults (a role's values); the repo's .env
	// and then the host's environment override them. Values may hold
	// ${secret:NAME} references.
	Vars map[string]string
	// DataDir is where relative bind sources ("./library") live on the
	// host, normally /srv/data/<name>.
	DataDir string
}

// File is one compose file: the name used in messages and its content.
type File struct {
	Name    string
	Content []byte
}

// Secret references are replaced by placeholders while the compose files
// load, so that the desired spec, its diff and every message hold only
// «secret:NAME»; values are put in at the last moment, in the create call.
var placeholderRe = regexp.MustCompile(`«secret:([A-Z][A-Z0-9_]*)»`)

func hideSecrets(s string) string {
	if !strings.Contains(s, "${secret:") {
		return s
	}
	return secrets.ReplaceRefs(s, secrets.Placeholder)
}

// placeholderNames lists the secrets a placeholder-form text refers to.
func placeholderNames(s string, into map[string]bool) {
	for _, m := range placeholderRe.FindAllStringSubmatch(s, -1) {
		into[m[1]] = true
	}
}

// SecretNames lists the secrets the source's files and vars refer to
// (env files in the repo are scanned when the project loads).
func (s *Source) SecretNames() []string {
	set := map[string]bool{}
	add := func(text string) {
		for _, n := range secrets.Names(text) {
			set[n] = true
		}
	}
	for _, f := range s.Files {
		add(string(f.Content))
	}
	for _, v := range s.Vars {
		add(v)
	}
	var out []string
	for n := range set {
		out = append(out, n)
	}
	return out
}
