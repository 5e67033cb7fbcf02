package vault

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/homelab-agent/homelab-agent/agent/secrets"
	"github.com/homelab-agent/homelab-agent/internal/testreq"
)

// masterText is a fixed master key so that derived identities are
// known answers.
const masterText = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"

func master(t testing.TB) *age.X25519Identity {
	t.Helper()
	id, err := age.ParseX25519Identity(masterText)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func needCLI(t *testing.T, name string) string {
	t.Helper()
	return testreq.Tool(t, name) // the Debian package age; scripts/test-deps.sh installs it
}

func TestDeriveHost(t *testing.T) {
	m := master(t)
	a1, err := DeriveHost(m, "cloud")
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := DeriveHost(m, "cloud")
	b, _ := DeriveHost(m, "photos")
	if a1.String() != a2.String() {
		t.Fatal("derivation is not deterministic")
	}
	if a1.String() == b.String() || a1.String() == m.String() {
		t.Fatal("different hosts (or the master) share an identity")
	}
	// Known answer, computed independently (Python hmac HKDF + BIP-173 + age-keygen -y):
	// changing the derivation would orphan every host's file.
	if got, want := a1.Recipient().String(), cloudRecipient; got != want {
		t.Fatalf("cloud's recipient = %s, want %s", got, want)
	}
	other, _ := age.GenerateX25519Identity()
	c, _ := DeriveHost(other, "cloud")
	if c.String() == a1.String() {
		t.Fatal("another master key gives the same host identity")
	}
	if _, err := DeriveHost(m, ""); err == nil {
		t.Fatal("an empty host name was accepted")
	}
}

const cloudRecipient = "age14s37p90qq2hfz3pg72p9vkep85cpnkx69ttmnmusvydgzrk2dc7qsaxpn2"

// TestDeriveHostAgeKeygen: age-keygen -y reads the derived identity and
// prints the same recipient: the encoding is age's own.
func TestDeriveHostAgeKeygen(t *testing.T) {
	keygen := needCLI(t, "age-keygen")
	id, _ := DeriveHost(master(t), "photos")
	f := filepath.Join(t.TempDir(), "photos.key")
	os.WriteFile(f, IdentityText("photos", id), 0o600)
	out, err := exec.Command(keygen, "-y", f).CombinedOutput()
	if err != nil {
		t.Fatalf("age-keygen -y: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != id.Recipient().String() {
		t.Fatalf("age-keygen -y = %s, want %s", got, id.Recipient())
	}
}

var tricky = map[string]string{
	"LEADQ":  `"starts with a quote`,
	"SPACES": "  padded ",
	"PLAIN":  "s3cr3t-value",
	"QUOTES": `it's "quoted"`,
	"SHELL":  `$HOME ${X} \back\slash # not a comment`,
	"LINES":  "line one\nline two",
	"EQUALS": "a=b=c  ",
}

func TestMarshalRoundTrip(t *testing.T) {
	v := Values{}
	when := time.Date(2026, 11, 1, 2, 3, 4, 0, time.UTC)
	for n, val := range tricky {
		v[n] = Entry{Name: n, Value: val, Set: when}
	}
	got, err := Unmarshal(v.Marshal("cloud"))
	if err != nil {
		t.Fatal(err)
	}
	for n, val := range tricky {
		if got[n].Value != val || !got[n].Set.Equal(when) {
			t.Errorf("%s: got %q set %v, want %q set %v", n, got[n].Value, got[n].Set, val, when)
		}
	}
	if len(got) != len(tricky) {
		t.Errorf("got %d names, want %d", len(got), len(tricky))
	}
}

func newRepo(t *testing.T) *Repo {
	t.Helper()
	now := time.Date(2026, 11, 29, 6, 0, 0, 0, time.UTC)
	return &Repo{Dir: t.TempDir(), Master: master(t), Now: func() time.Time { return now }}
}

// writeIdentity puts host's derived identity where the agent looks.
func writeIdentity(t *testing.T, root, host string, m *age.X25519Identity) string {
	t.Helper()
	id, err := DeriveHost(m, host)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(root, IdentityFile)
	os.MkdirAll(filepath.Dir(p), 0o700)
	if err := os.WriteFile(p, IdentityText(host, id), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAgeCLIDecryptsHostFile: the host's file opens with the plain age
// CLI, both with the host's identity and with the master key; another
// host's identity does not open it.
func TestAgeCLIDecryptsHostFile(t *testing.T) {
	ageBin := needCLI(t, "age")
	r := newRepo(t)
	for n, v := range tricky {
		if err := r.Set(n, v, []string{"cloud"}); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(r.Dir, FileOf("cloud"))
	hostKey := writeIdentity(t, t.TempDir(), "cloud", r.Master)
	masterKey := filepath.Join(t.TempDir(), "master.key")
	os.WriteFile(masterKey, []byte(masterText+"\n"), 0o600)
	for _, key := range []string{hostKey, masterKey} {
		out, err := exec.Command(ageBin, "-d", "-i", key, file).Output()
		if err != nil {
			t.Fatalf("age -d -i %s: %v", key, err)
		}
		got, err := Unmarshal(out)
		if err != nil {
			t.Fatal(err)
		}
		for n, v := range tricky {
			if got[n].Value != v {
				t.Errorf("age CLI: %s = %q, want %q", n, got[n].Value, v)
			}
		}
		if !strings.Contains(string(out), "PLAIN=s3cr3t-value\n") {
			t.Errorf("the plaintext is not NAME=value lines:\n%s", out)
		}
	}
	otherKey := writeIdentity(t, t.TempDir(), "photos", r.Master)
	if err := exec.Command(ageBin, "-d", "-i", otherKey, file).Run(); err == nil {
		t.Fatal("photos' identity opened cloud's file")
	}
}

// TestLoadHostReadsAgeCLIFile: a file written with the age CLI alone (no
// homelab-agent) is read by the agent: no lock-in either way.
func TestLoadHostReadsAgeCLIFile(t *testing.T) {
	ageBin := needCLI(t, "age")
	m := master(t)
	repo, root := t.TempDir(), t.TempDir()
	writeIdentity(t, root, "cloud", m)
	host, _ := DeriveHost(m, "cloud")
	os.MkdirAll(filepath.Join(repo, Dir), 0o755)
	cmd := exec.Command(ageBin, "-e", "-r", host.Recipient().String(), "-o", filepath.Join(repo, FileOf("cloud")))
	cmd.Stdin = strings.NewReader("NEXTCLOUD_DB_PASSWORD=from-the-cli\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("age -e: %v\n%s", err, out)
	}
	s, err := LoadHost(root, repo, "cloud", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Lookup("NEXTCLOUD_DB_PASSWORD"); v != "from-the-cli" {
		t.Fatalf("got %q", v)
	}
}

func TestLoadHostLocalWins(t *testing.T) {
	r := newRepo(t)
	r.Set("DB_PASSWORD", "repo-value", []string{"cloud"})
	r.Set("OTHER", "repo-other", []string{"cloud"})
	root := t.TempDir()
	writeIdentity(t, root, "cloud", r.Master)
	os.WriteFile(filepath.Join(root, secrets.File), []byte("DB_PASSWORD=local-value\n"), 0o600)
	s, err := LoadHost(root, r.Dir, "cloud", nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := s.Lookup("DB_PASSWORD"); v != "local-value" {
		t.Fatalf("DB_PASSWORD = %q, want the local value", v)
	}
	if v, _ := s.Lookup("OTHER"); v != "repo-other" {
		t.Fatalf("OTHER = %q, want the repo's", v)
	}
	c := s.Conflicts()
	if len(c) != 1 || c[0].Name != "DB_PASSWORD" || c[0].Source != "secrets/cloud.env.age (host cloud)" {
		t.Fatalf("conflicts = %v", c)
	}
	msg := c[0].String()
	if !strings.Contains(msg, secrets.File) || !strings.Contains(msg, "local value wins") || strings.Contains(msg, "value-") {
		t.Fatalf("conflict message %q", msg)
	}
}

// TestLoadHostBadInput: every way the host's file can be unreadable is an
// error naming the file and the host, never a value, and resolves nothing.
func TestLoadHostBadInput(t *testing.T) {
	r := newRepo(t)
	const value = "very-secret-value-123"
	if err := r.Set("DB_PASSWORD", value, []string{"cloud", "photos"}); err != nil {
		t.Fatal(err)
	}
	good, _ := os.ReadFile(filepath.Join(r.Dir, FileOf("cloud")))
	photos, _ := os.ReadFile(filepath.Join(r.Dir, FileOf("photos")))
	other, _ := age.GenerateX25519Identity()
	var wrong bytes.Buffer
	Encrypt(&wrong, "cloud", Values{"DB_PASSWORD": {Value: value}}, other.Recipient())
	cases := []struct {
		name, want string
		file       []byte
		noIdentity bool
	}{
		{name: "wrong recipients", file: wrong.Bytes(), want: "not encrypted to this identity"},
		{name: "another host's file", file: photos, want: "not encrypted to this identity"},
		{name: "truncated", file: good[:len(good)/2], want: "damaged"},
		{name: "tampered", file: tamper(t, good), want: "damaged"},
		{name: "not age", file: []byte("DB_PASSWORD=plain\n"), want: "damaged"},
		{name: "missing identity", file: good, noIdentity: true, want: "no identity at /etc/homelab-agent/age.key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := t.TempDir()
			if !c.noIdentity {
				writeIdentity(t, root, "cloud", r.Master)
			}
			os.WriteFile(filepath.Join(r.Dir, FileOf("cloud")), c.file, 0o644)
			s, err := LoadHost(root, r.Dir, "cloud", nil)
			var fe *Error
			if !errors.As(err, &fe) || s != nil {
				t.Fatalf("LoadHost = %v, %v; want an *Error", s, err)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "secrets/cloud.env.age (host cloud): ") || !strings.Contains(msg, c.want) {
				t.Fatalf("error %q does not name file, host and %q", msg, c.want)
			}
			if strings.Contains(msg, value) || strings.Contains(msg, "plain") {
				t.Fatalf("error shows a value: %q", msg)
			}
		})
	}
	// A repo without the host's file leaves the local secrets.
	root := t.TempDir()
	s, err := LoadHost(root, r.Dir, "media", []string{"HOMELAB_SECRET_X=1"})
	if err != nil || s.Missing([]string{"X"}) != nil {
		t.Fatalf("no file: %v, %v", s, err)
	}
}

// tamper flips one bit in the payload of an armored file.
func tamper(t *testing.T, armored []byte) []byte {
	t.Helper()
	var bin bytes.Buffer
	v, err := Decrypt(armored, master(t))
	if err != nil {
		t.Fatal(err)
	}
	_ = v
	// Re-encrypt unarmored so one byte of the payload is easy to reach.
	id, _ := DeriveHost(master(t), "cloud")
	Encrypt(&bin, "cloud", v, id.Recipient())
	dec, err := Decrypt(bin.Bytes(), id)
	if err != nil || len(dec) == 0 {
		t.Fatal("setup", err)
	}
	// Decode the armor, flip the last byte of the ciphertext, and keep it binary.
	raw := unarmor(t, bin.Bytes())
	raw[len(raw)-1] ^= 1
	return raw
}

func unarmor(t *testing.T, b []byte) []byte {
	t.Helper()
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if !strings.HasPrefix(l, "-----") {
			lines = append(lines, l)
		}
	}
	raw, err := base64Std(strings.Join(lines, ""))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRepoSetListCheck(t *testing.T) {
	r := newRepo(t)
	needs := map[string][]string{"cloud": {"DB", "RESTIC"}, "photos": {"RESTIC"}, "dns1": nil}
	if err := r.Set("RESTIC", "pw", HostsFor(needs, "RESTIC")); err != nil {
		t.Fatal(err)
	}
	if err := r.Set("TOKEN", "t", []string{Admin}); err != nil {
		t.Fatal(err)
	}
	missing, err := r.Check(needs)
	if err != nil {
		t.Fatal(err)
	}
	if len(missing) != 1 || missing[0].Error() != "secrets/cloud.env.age (host cloud): missing secret DB that the host needs; run: homelab-agent secrets set DB --host cloud" {
		t.Fatalf("Check = %v", missing)
	}
	ls, err := r.List(needs)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		names = append(names, l.Name)
	}
	if !slices.Equal(names, []string{"DB", "RESTIC", "TOKEN"}) {
		t.Fatalf("names %v", names)
	}
	if !slices.Equal(ls[0].Missing, []string{"cloud"}) || len(ls[1].Set) != 2 || ls[1].Set["photos"].IsZero() {
		t.Fatalf("listing %+v", ls)
	}
	// The admin file opens with the master key only.
	adminData, _ := os.ReadFile(filepath.Join(r.Dir, FileOf(Admin)))
	cloud, _ := DeriveHost(r.Master, "cloud")
	if _, err := Decrypt(adminData, cloud); err == nil {
		t.Fatal("a host identity opens the admin file")
	}
	if err := r.Set("EMPTY", "", []string{"cloud"}); err == nil {
		t.Fatal("an empty value was set")
	}
}

func TestRekey(t *testing.T) {
	r := newRepo(t)
	r.Set("RESTIC", "pw", []string{"cloud"})
	r.Set("OLD", "x", []string{"cloud"})
	r.Set("GONE", "y", []string{"retired"})
	// photos joins and needs RESTIC; cloud no longer needs OLD; retired left.
	needs := map[string][]string{"cloud": {"RESTIC"}, "photos": {"RESTIC", "NEW"}}
	newMaster, _ := age.GenerateX25519Identity()
	// Without prune a value no host needs (a key the agent reads itself) stays.
	kept, err := r.Rekey(needs, nil, false)
	if err != nil || !slices.Equal(kept.Kept, []string{"OLD on cloud"}) || len(kept.Dropped) != 0 ||
		!slices.Equal(kept.Copied, []string{"RESTIC → photos"}) || !slices.Equal(kept.Removed, []string{"retired"}) {
		t.Fatalf("rekey without prune: %+v %v", kept, err)
	}
	if v, _ := r.Read("cloud"); v["OLD"].Value != "x" {
		t.Fatal("rekey without prune dropped a value")
	}
	rep, err := r.Rekey(needs, newMaster, true)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Dropped, []string{"OLD from cloud"}) || len(rep.Missing) != 1 || rep.Missing[0].Name != "NEW" {
		t.Fatalf("report %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(r.Dir, FileOf("retired"))); !os.IsNotExist(err) {
		t.Fatal("the retired host's file is still there")
	}
	// The new master and photos' new derived identity open photos' file; the old master does not.
	if _, err := r.Read("photos"); err == nil {
		t.Fatal("the old master still opens the rekeyed file")
	}
	nr := &Repo{Dir: r.Dir, Master: newMaster}
	v, err := nr.Read("photos")
	if err != nil || v["RESTIC"].Value != "pw" {
		t.Fatalf("new master: %v %v", v, err)
	}
	root := t.TempDir()
	writeIdentity(t, root, "photos", newMaster)
	s, err := LoadHost(root, r.Dir, "photos", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Lookup("RESTIC"); got != "pw" {
		t.Fatalf("photos reads %q", got)
	}
	// Different values for one needed name: an error naming the files, no value.
	r2 := newRepo(t)
	r2.Set("RESTIC", "one", []string{"cloud"})
	r2.Set("RESTIC", "two", []string{"media"})
	_, err = r2.Rekey(map[string][]string{"cloud": {"RESTIC"}, "media": {"RESTIC"}, "photos": {"RESTIC"}}, nil, false)
	if err == nil || !strings.Contains(err.Error(), "secrets/cloud.env.age and secrets/media.env.age") || strings.Contains(err.Error(), "two") {
		t.Fatalf("conflicting values: %v", err)
	}
}

func TestEdit(t *testing.T) {
	r := newRepo(t)
	r.Set("KEEP", "k", []string{"cloud"})
	r.Set("CHANGE", "c", []string{"cloud"})
	before, _ := r.Read("cloud")
	later := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r.Now = func() time.Time { return later }
	var seen string
	changed, err := r.Edit("cloud", func(p string) error {
		seen = p
		fi, _ := os.Stat(filepath.Dir(p))
		if fi.Mode().Perm() != 0o700 {
			t.Errorf("temp folder mode %#o", fi.Mode().Perm())
		}
		b, _ := os.ReadFile(p)
		b = bytes.Replace(b, []byte("CHANGE=c\n"), []byte("CHANGE=c2\n"), 1)
		b = append(b, "ADDED=a\n"...)
		return os.WriteFile(p, b, 0o600)
	})
	if err != nil || !changed {
		t.Fatalf("Edit = %v, %v", changed, err)
	}
	if _, err := os.Stat(filepath.Dir(seen)); !os.IsNotExist(err) {
		t.Fatal("the decrypted temp folder is left behind")
	}
	v, _ := r.Read("cloud")
	if v["CHANGE"].Value != "c2" || !v["CHANGE"].Set.Equal(later) || v["ADDED"].Value != "a" || !v["KEEP"].Set.Equal(before["KEEP"].Set) {
		t.Fatalf("after edit: %+v", v)
	}
	// A broken edit writes nothing and quotes nothing.
	_, err = r.Edit("cloud", func(p string) error { return os.WriteFile(p, []byte("bad name=\"secret-ish\n"), 0o600) })
	if err == nil || strings.Contains(err.Error(), "secret-ish") {
		t.Fatalf("broken edit: %v", err)
	}
	if v2, _ := r.Read("cloud"); v2["CHANGE"].Value != "c2" {
		t.Fatal("a broken edit changed the file")
	}
	// No change, no write.
	st1, _ := os.Stat(filepath.Join(r.Dir, FileOf("cloud")))
	changed, err = r.Edit("cloud", func(string) error { return nil })
	st2, _ := os.Stat(filepath.Join(r.Dir, FileOf("cloud")))
	if err != nil || changed || !st1.ModTime().Equal(st2.ModTime()) {
		t.Fatalf("unchanged edit: %v %v", changed, err)
	}
}

func TestRotate(t *testing.T) {
	r := newRepo(t)
	if err := r.Rotate("CF_TOKEN", []string{"proxy"}, []string{"RESTIC_PASSWORD"}); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("rotating a foreign credential: %v", err)
	}
	if err := r.Rotate("RESTIC_PASSWORD", []string{"cloud", "photos"}, []string{"RESTIC_PASSWORD"}); err != nil {
		t.Fatal(err)
	}
	a, _ := r.Read("cloud")
	b, _ := r.Read("photos")
	if v := a["RESTIC_PASSWORD"].Value; len(v) != 52 || v != b["RESTIC_PASSWORD"].Value {
		t.Fatalf("rotated value %q / %q", v, b["RESTIC_PASSWORD"].Value)
	}
}

func base64Std(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }
