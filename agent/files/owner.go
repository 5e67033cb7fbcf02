package files

import (
	"bufio"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// lookupOwner resolves user and group names to IDs, reading the host
// root's /etc/passwd and /etc/group first (so a --root tree of another
// system resolves its own users), then the running system's. Empty names
// mean "leave as is" (-1).
func lookupOwner(root, owner, group string) (int, int, error) {
	uid, err := lookupID(root, "passwd", owner, func(n string) (string, error) {
		u, err := user.Lookup(n)
		if err != nil {
			return "", err
		}
		return u.Uid, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("unknown user %q", owner)
	}
	gid, err := lookupID(root, "group", group, func(n string) (string, error) {
		g, err := user.LookupGroup(n)
		if err != nil {
			return "", err
		}
		return g.Gid, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("unknown group %q", group)
	}
	return uid, gid, nil
}

func lookupID(root, db, name string, system func(string) (string, error)) (int, error) {
	if name == "" {
		return -1, nil
	}
	if id, err := strconv.Atoi(name); err == nil {
		return id, nil
	}
	if root != "" && root != "/" {
		if id, ok := scanDB(filepath.Join(root, "etc", db), name); ok {
			return id, nil
		}
	}
	s, err := system(name)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(s)
}

// scanDB finds name in a passwd(5) or group(5) file.
func scanDB(path, name string) (int, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(sc.Text(), ":")
		if len(fields) > 2 && fields[0] == name {
			id, err := strconv.Atoi(fields[2])
			return id, err == nil
		}
	}
	return 0, false
}
