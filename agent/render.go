package agent

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/resource"
)

// Rendered is one file of a host's desired state, with ${secret:NAME}
// references left in place (rendering never resolves secrets).
type Rendered = resource.Rendered

// RenderHost returns every file the host would get, in apply order, then
// each container project's compose files and variables under /containers/.
func RenderHost(l *lab.Lab, host string, now time.Time) ([]Rendered, error) {
	_, out, err := Desired(l, host, nil, now)
	if err != nil {
		return nil, err
	}
	var fs []Rendered
	for _, r := range out.Resources {
		if x, ok := r.(resource.Renderer); ok {
			fs = append(fs, x.Render()...)
		}
	}
	return fs, nil
}

// WriteRendered writes rendered files under dir, for review.
func WriteRendered(dir string, fs []Rendered) error {
	for _, f := range fs {
		p := filepath.Join(dir, f.Path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return fmt.Errorf("rendering %s: %w", f.Path, err)
		}
		if err := os.WriteFile(p, f.Content, f.Mode); err != nil {
			return fmt.Errorf("rendering %s: %w", f.Path, err)
		}
		if err := os.Chmod(p, f.Mode); err != nil {
			return fmt.Errorf("rendering %s: %w", f.Path, err)
		}
	}
	return nil
}
