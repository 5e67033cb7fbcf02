package files

import "fmt"

// Header is the first line of every file the agent renders, written as
// a comment of the file's syntax: it says the file is managed and that
// local edits are overwritten.
func Header(comment, name string) string {
	return fmt.Sprintf("%s %s: managed by homelab-agent from the lab repo; local edits are overwritten.\n", comment, name)
}
