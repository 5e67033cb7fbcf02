package pvesim

import (
	"fmt"
	"net/http"
	"time"
)

// task is a UPID task: it runs for its type's duration, then applies its
// effect (or fails) and stops.
type task struct {
	upid, node, typ, id string
	start               time.Time
	running             bool
	exit                string
	timer               *time.Timer
}

// startTask starts a task whose effect runs when it ends; effect returns
// the failure message, or "" for OK. Called with s.mu held.
func (s *Sim) startTask(node, typ, id string, effect func() string) string {
	s.seq++
	now := s.opts.Now()
	upid := fmt.Sprintf("UPID:%s:%08X:%08X:%08X:%s:%s:root@pam!homelab:", node, 4000+s.seq, s.seq*7, now.Unix(), typ, id)
	t := &task{upid: upid, node: node, typ: typ, id: id, start: now, running: true}
	s.tasks[upid] = t
	s.stats.Tasks[typ]++
	fail := ""
	for i, f := range s.failTasks {
		if f.typ == typ && (f.id == "" || f.id == id) {
			fail = f.exit
			s.failTasks = append(s.failTasks[:i], s.failTasks[i+1:]...)
			break
		}
	}
	d, ok := s.opts.TaskDurations[typ]
	if !ok {
		d = s.opts.DefaultTask
	}
	finish := func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		exit := fail
		if exit == "" {
			exit = effect()
		} else if vm := s.vmByID(id); vm != nil && typ == "qmcreate" {
			delete(s.vms, vm.VMID) // a failed create leaves nothing behind
		}
		if vm := s.vmByID(id); vm != nil && vm.busy == upid {
			vm.busy = ""
		}
		t.running = false
		t.exit = "OK"
		if exit != "" {
			t.exit = exit
		}
	}
	if vm := s.vmByID(id); vm != nil {
		vm.busy = upid
	}
	t.timer = time.AfterFunc(d, finish)
	return upid
}

func (s *Sim) vmByID(id string) *VM {
	var n int
	if _, err := fmt.Sscan(id, &n); err != nil {
		return nil
	}
	return s.vms[n]
}

func taskStatus(s *Sim, p params) (any, *apiError) {
	t := s.tasks[p.vars["upid"]]
	if t == nil || t.node != p.vars["node"] {
		return nil, errf(http.StatusInternalServerError, "unable to parse worker upid '%s'", p.vars["upid"])
	}
	st := map[string]any{
		"upid": t.upid, "node": t.node, "type": t.typ, "id": t.id, "user": "root@pam!homelab",
		"pid": 4000, "pstart": 7, "starttime": t.start.Unix(), "status": "running",
	}
	if !t.running {
		st["status"] = "stopped"
		st["exitstatus"] = t.exit
	}
	return st, nil
}
