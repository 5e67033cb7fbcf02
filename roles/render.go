package roles

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/homelab-agent/homelab-agent/agent/files"
)

// EnvFile renders KEY=value lines, sorted by key, for docker's env_file and
// systemd's EnvironmentFile. Values are written verbatim (they may be
// ${secret:NAME} references, resolved when the file is written).
func EnvFile(name string, vars map[string]string) []byte {
	var b bytes.Buffer
	b.WriteString(files.Header("#", name))
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, strings.ReplaceAll(vars[k], "\n", ""))
	}
	return b.Bytes()
}

// ServiceURL is https://<sub>.<domain>.
func ServiceURL(sub, domain string) string { return "https://" + sub + "." + domain }
