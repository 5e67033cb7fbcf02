package daemon_test

import (
	"errors"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/daemon"
)

func TestJournalHandlerFields(t *testing.T) {
	type entry struct {
		msg  string
		pri  int
		vars map[string]string
	}
	var got []entry
	log := daemon.JournalLogger(func(msg string, pri int, vars map[string]string) { got = append(got, entry{msg, pri, vars}) })
	log.With("commit", "1a2b").Error("refusing commit", "err", errors.New("homelab.yaml:5:35: unknown key"))
	log.WithGroup("git").Info("synced", "head", "3c4d")
	log.Debug("not sent")
	if len(got) != 2 {
		t.Fatalf("entries: %+v", got)
	}
	e := got[0]
	if e.pri != 3 || e.msg != `refusing commit commit="1a2b" err="homelab.yaml:5:35: unknown key"` ||
		e.vars["HOMELAB_COMMIT"] != "1a2b" || e.vars["HOMELAB_ERR"] != "homelab.yaml:5:35: unknown key" || e.vars["SYSLOG_IDENTIFIER"] != "homelab-agent" {
		t.Fatalf("error entry: %+v", e)
	}
	if got[1].pri != 6 || got[1].vars["HOMELAB_GIT_HEAD"] != "3c4d" {
		t.Fatalf("info entry: %+v", got[1])
	}
}
