package tailscale_test

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// inNS runs fn on a thread that has entered the namespace; the thread is
// thrown away afterwards.
func inNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("entering %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}
