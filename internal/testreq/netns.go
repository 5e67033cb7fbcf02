package testreq

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

var sweepOnce sync.Once

// Netns creates the network namespace "<prefix><pid>-<name>" with lo up and
// removes it when the test ends. A test process killed before its cleanups
// (a timeout, a mutation run) leaves its namespaces behind: the first call
// in a process removes those of the prefix whose process is gone (or is no
// longer the same test binary). It needs root and ip.
func Netns(t testing.TB, prefix, name string) string {
	t.Helper()
	Root(t)
	Tool(t, "ip")
	sweepOnce.Do(func() { sweepNetns(prefix) })
	ns := fmt.Sprintf("%s%d-%s", prefix, os.Getpid(), name)
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		Missing(t, "cannot create a network namespace: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v %s", ns, err, out)
	}
	return ns
}

// sweepNetns removes "<prefix><pid>-*" namespaces whose pid is not a live
// process running this test binary.
func sweepNetns(prefix string) {
	self, _ := os.ReadFile("/proc/self/comm")
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pid, _, ok := strings.Cut(strings.TrimPrefix(name, prefix), "-")
		if !strings.HasPrefix(name, prefix) || !ok || pid == "" || strings.Trim(pid, "0123456789") != "" {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + pid + "/comm"); err == nil && string(comm) == string(self) {
			continue
		}
		exec.Command("ip", "netns", "del", name).Run()
	}
}
