// Package bounded reads files of the lab repo under a size limit, so that
// no file a commit holds can make the agent read or hold more than it
// expects. The limits themselves are listed in README.md ("Reliability").
package bounded

import (
	"fmt"
	"io"
	"os"
)

// RepoFile is the largest file of the lab repo that the agent reads
// besides homelab.yaml: compose files, their .env and env_file files.
const RepoFile = 1 << 20

// TooLargeError says that a file is over its size limit.
type TooLargeError struct {
	// Name is the file as the user knows it (a repo-relative path).
	Name        string
	Size, Limit int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than the limit of %s (%d bytes)", e.Name, Size(e.Limit), e.Size)
}

// ReadFile reads a file of at most limit bytes; a larger one is a
// *TooLargeError naming it as name. It never reads more than limit+1
// bytes, whatever the file's size.
func ReadFile(path, name string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		size := int64(len(data))
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
		return nil, &TooLargeError{Name: name, Size: size, Limit: limit}
	}
	return data, nil
}

// Size writes a byte count the way limits are written: 256 KiB, 1 MiB.
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
