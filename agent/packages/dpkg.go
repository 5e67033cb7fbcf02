package packages

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"pault.ag/go/debian/version"
)

// StatusFile is dpkg's record of what is installed.
const StatusFile = "/var/lib/dpkg/status"

// Installed maps a package name to its installed version.
type Installed map[string]version.Version

// ReadStatus reads dpkg's status file: the packages whose status is
// "install ok installed", with their versions. A pass that needs nothing
// reads only this file.
func ReadStatus(path string) (Installed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseStatus(b)
}

// parseStatus parses deb822 paragraphs (continuation lines start with a
// space and are skipped: only single-line fields are read).
func parseStatus(b []byte) (Installed, error) {
	out := Installed{}
	var name, status, ver string
	flush := func() error {
		if name != "" && status == "install ok installed" {
			v, err := version.Parse(ver)
			if err != nil {
				return fmt.Errorf("%s: package %s: version %q: %w", StatusFile, name, ver, err)
			}
			out[name] = v
		}
		name, status, ver = "", "", ""
		return nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if err := flush(); err != nil {
				return nil, err
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			name = v
		case "Status":
			status = v
		case "Version":
			ver = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, flush()
}

// Satisfies reports whether the installed version meets min ("" is any).
func Satisfies(have version.Version, min string) (bool, error) {
	if min == "" {
		return true, nil
	}
	m, err := version.Parse(min)
	if err != nil {
		return false, fmt.Errorf("minimum version %q: %w", min, err)
	}
	return version.Compare(have, m) >= 0, nil
}

func parseV(s string) (version.Version, error) { return version.Parse(s) }

func compare(a, b version.Version) int { return version.Compare(a, b) }
