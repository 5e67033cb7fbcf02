package pvesim

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options configure a simulated Proxmox VE cluster.
type Options struct {
	// Schema is Proxmox's API schema; every request is checked against it.
	Schema *Schema
	// Nodes are the cluster's node names (default: pve).
	Nodes []string
	// Token is the accepted Authorization value after "PVEAPIToken=",
	// e.g. "root@pam!homelab=SECRET". Empty accepts any token.
	Token string
	// TaskDurations is how long each task type runs (qmcreate, qmstart,
	// qmstop, qmdestroy, qmresize, qmconfig, download); DefaultTask
	// applies to the rest.
	TaskDurations map[string]time.Duration
	DefaultTask   time.Duration
	// AgentDelay is the time from a VM's start until its guest agent answers.
	AgentDelay time.Duration
	// Bridges exist on every node besides vmbr0 (AddBridge adds more).
	Bridges []string
	// Root is the nodes' file system root: a dir storage's snippets are
	// read from Root + the storage's path + /snippets.
	Root string
	// BridgesFromFiles makes a bridge exist on every node once an
	// "iface NAME" stanza for it is in Root/etc/network/interfaces.d/*
	// (standing in for ifreload -a, for the standalone simulator).
	BridgesFromFiles bool
	// ImageSize is the size of a downloaded image (default 3 GiB).
	ImageSize int64
	// KnownImages maps download URLs to their sha256; a download whose
	// checksum differs fails like Proxmox's does.
	KnownImages map[string]string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// OnStart, when set, is called in its own goroutine once a VM has
	// started, with its config and the vendor snippet its cicustom names
	// (nil if none): the e2e drill boots a guest container there.
	OnStart func(Started)
}

// Started is a VM that has just started, for Options.OnStart.
type Started struct {
	Node       string
	VMID       int
	Name       string
	Config     map[string]string
	VendorData []byte
}

// Rejection is one request the simulator refused.
type Rejection struct {
	Method, Path string
	Status       int
	Errors       map[string]string
	Message      string
}

// Stats counts what the simulator saw.
type Stats struct {
	Requests int
	// Rejected counts schema rejections (400 and unknown paths/methods).
	Rejected   int
	Rejections []Rejection
	// Injected counts injected failures (lock timeouts, 5xx).
	Injected int
	// ByRoute counts requests per "METHOD /path/{template}".
	ByRoute map[string]int
	// Tasks counts tasks started per type.
	Tasks map[string]int
	// Changes logs the accepted requests other than GET, in arrival order.
	Changes []Request
}

// Request is one logged request.
type Request struct {
	Method string            `json:"method"`
	Path   string            `json:"path"`
	Params map[string]string `json:"params"`
}

// Sim is a simulated Proxmox VE cluster behind an HTTPS API.
type Sim struct {
	opts Options

	mu       sync.Mutex
	stats    Stats
	storages map[string]*Storage
	volumes  map[string]map[string]*Volume // node -> volid -> volume
	vms      map[int]*VM
	tasks    map[string]*task
	bridges  map[string]map[string]bool
	seq      int

	failTasks []taskFailure
	lockFails int
	errFails  []errFailure

	srv *httptest.Server
}

// Storage is a storage definition (storage.cfg).
type Storage struct {
	ID, Type, Path string
	Content        []string
	Shared         bool
}

// Volume is an allocated volume.
type Volume struct {
	VolID, Content, Format string
	Size                   int64
	VMID                   int
}

// VM is a simulated guest.
type VM struct {
	VMID    int
	Node    string
	Config  map[string]string
	Running bool
	Started time.Time
	busy    string // running task holding the config lock
}

type taskFailure struct{ typ, id, exit string }
type errFailure struct {
	status  int
	path    string
	message string
}

// New returns a simulator with one dir storage "local" (/var/lib/vz,
// content iso,vztmpl,backup) and one LVM-thin storage "local-lvm" (images,
// rootdir) on every node.
func New(opts Options) *Sim {
	if len(opts.Nodes) == 0 {
		opts.Nodes = []string{"pve"}
	}
	if opts.ImageSize == 0 {
		opts.ImageSize = 3 << 30
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sim{
		opts: opts,
		storages: map[string]*Storage{
			"local":     {ID: "local", Type: "dir", Path: "/var/lib/vz", Content: []string{"iso", "vztmpl", "backup"}},
			"local-lvm": {ID: "local-lvm", Type: "lvmthin", Content: []string{"images", "rootdir"}},
		},
		volumes: map[string]map[string]*Volume{},
		vms:     map[int]*VM{},
		tasks:   map[string]*task{},
		bridges: map[string]map[string]bool{},
	}
	s.stats.ByRoute = map[string]int{}
	s.stats.Tasks = map[string]int{}
	for _, n := range opts.Nodes {
		s.volumes[n] = map[string]*Volume{}
		s.bridges[n] = map[string]bool{"vmbr0": true}
		for _, b := range opts.Bridges {
			s.bridges[n][b] = true
		}
	}
	return s
}

// StartTLS serves the API on a loopback port with a self-signed
// certificate and returns the base URL (https://127.0.0.1:PORT).
func (s *Sim) StartTLS() string {
	s.srv = httptest.NewTLSServer(s)
	return s.srv.URL
}

// Serve serves the API on l with a self-signed certificate.
func (s *Sim) Serve(l net.Listener) string {
	s.srv = httptest.NewUnstartedServer(s)
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.StartTLS()
	return s.srv.URL
}

// Certificate is the server's TLS certificate.
func (s *Sim) Certificate() *x509.Certificate { return s.srv.Certificate() }

// Fingerprint is the sha256 fingerprint of the server's certificate, in
// Proxmox's notation (AA:BB:...).
func (s *Sim) Fingerprint() string {
	sum := sha256.Sum256(s.srv.Certificate().Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var parts []string
	for i := 0; i < len(h); i += 2 {
		parts = append(parts, h[i:i+2])
	}
	return strings.Join(parts, ":")
}

// Close stops the server.
func (s *Sim) Close() {
	if s.srv != nil {
		s.srv.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range s.tasks {
		if t.timer != nil {
			t.timer.Stop()
		}
	}
}

// Stats returns a copy of the counters.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Rejections = append([]Rejection(nil), s.stats.Rejections...)
	st.ByRoute = map[string]int{}
	for k, v := range s.stats.ByRoute {
		st.ByRoute[k] = v
	}
	st.Changes = append([]Request(nil), s.stats.Changes...)
	st.Tasks = map[string]int{}
	for k, v := range s.stats.Tasks {
		st.Tasks[k] = v
	}
	return st
}

// ResetStats zeroes the counters.
func (s *Sim) ResetStats() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats = Stats{ByRoute: map[string]int{}, Tasks: map[string]int{}}
}

// FailNextTask makes the next task of type typ (and id, if not empty: the
// VMID or storage) stop with exit status exit.
func (s *Sim) FailNextTask(typ, id, exit string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failTasks = append(s.failTasks, taskFailure{typ, id, exit})
}

// LockTimeouts makes the next n requests that change a VM fail as when
// its config file stays locked ("can't lock file ... - got timeout").
func (s *Sim) LockTimeouts(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lockFails += n
}

// ServerErrors makes the next n requests whose path contains path fail
// with the HTTP status (e.g. 503).
func (s *Sim) ServerErrors(n, status int, path string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.errFails = append(s.errFails, errFailure{status: status, path: path, message: http.StatusText(status)})
	}
}

// AddBridge makes a bridge exist on a node (as ifreload would).
func (s *Sim) AddBridge(node, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridges[node] != nil {
		s.bridges[node][name] = true
	}
}

// VM returns a copy of a VM's state, or nil.
func (s *Sim) VM(vmid int) *VM {
	s.mu.Lock()
	defer s.mu.Unlock()
	vm := s.vms[vmid]
	if vm == nil {
		return nil
	}
	c := *vm
	c.Config = map[string]string{}
	for k, v := range vm.Config {
		c.Config[k] = v
	}
	return &c
}

// SetConfig changes a VM's config behind the API's back (drift).
func (s *Sim) SetConfig(vmid int, key, value string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if vm := s.vms[vmid]; vm != nil {
		vm.Config[key] = value
	}
}

// Volumes lists a node's volume IDs, sorted.
func (s *Sim) Volumes(node string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for id := range s.volumes[node] {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Storage returns a copy of a storage definition.
func (s *Sim) Storage(id string) *Storage {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.storages[id]
	if st == nil {
		return nil
	}
	c := *st
	c.Content = append([]string(nil), st.Content...)
	return &c
}

// apiError is an error answer: status, message and per-parameter errors.
type apiError struct {
	status int
	msg    string
	errs   map[string]string
}

func (e *apiError) Error() string { return e.msg }

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// ServeHTTP answers /api2/json/... requests.
func (s *Sim) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	data, err := s.serve(r)
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	if err != nil {
		body := map[string]any{"data": nil, "message": err.msg + "\n"}
		if err.errs != nil {
			body["errors"] = err.errs
		}
		w.WriteHeader(err.status)
		json.NewEncoder(w).Encode(body)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func (s *Sim) serve(r *http.Request) (any, *apiError) {
	s.mu.Lock()
	s.stats.Requests++
	s.mu.Unlock()
	const prefix = "/api2/json"
	if !strings.HasPrefix(r.URL.Path, prefix+"/") {
		return nil, s.reject(r, &apiError{status: http.StatusNotImplemented, msg: "no such path " + r.URL.Path})
	}
	if got := r.Header.Get("Authorization"); !strings.HasPrefix(got, "PVEAPIToken=") ||
		(s.opts.Token != "" && got != "PVEAPIToken="+s.opts.Token) {
		return nil, errf(http.StatusUnauthorized, "authentication failure")
	}
	path := strings.TrimPrefix(r.URL.Path, prefix)
	form, perr := readForm(r)
	if perr != nil {
		return nil, s.reject(r, errf(http.StatusBadRequest, "%v", perr))
	}
	m, vars, lerr := s.opts.Schema.Lookup(r.Method, path)
	if lerr != nil {
		return nil, s.reject(r, errf(http.StatusNotImplemented, "%v", lerr))
	}
	s.mu.Lock()
	s.stats.ByRoute[r.Method+" "+m.Path]++
	s.mu.Unlock()
	if errs := m.Validate(vars, form); errs != nil {
		return nil, s.reject(r, &apiError{status: http.StatusBadRequest, msg: "Parameter verification failed.", errs: errs})
	}
	if e := s.injected(r, vars); e != nil {
		return nil, e
	}
	h := routes[r.Method+" "+m.Path]
	if h == nil {
		return nil, errf(http.StatusNotImplemented, "%s %s is in the schema but not simulated", r.Method, m.Path)
	}
	p := params{vars: vars, form: form}
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodGet {
		logged := Request{Method: r.Method, Path: path, Params: map[string]string{}}
		for k := range form {
			logged.Params[k] = form.Get(k)
		}
		s.stats.Changes = append(s.stats.Changes, logged)
	}
	return h(s, p)
}

// readForm reads query parameters, and the form body of POST and PUT.
func readForm(r *http.Request) (url.Values, error) {
	q := r.URL.Query()
	if r.Method == http.MethodPost || r.Method == http.MethodPut {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, err
		}
		ct := r.Header.Get("Content-Type")
		switch {
		case len(body) == 0:
		case strings.HasPrefix(ct, "application/x-www-form-urlencoded"):
			f, err := url.ParseQuery(string(body))
			if err != nil {
				return nil, fmt.Errorf("invalid form body: %v", err)
			}
			for k, v := range f {
				q[k] = append(q[k], v...)
			}
		case strings.HasPrefix(ct, "application/json"):
			var obj map[string]any
			if err := json.Unmarshal(body, &obj); err != nil {
				return nil, fmt.Errorf("invalid JSON body: %v", err)
			}
			for k, v := range obj {
				q.Add(k, fmt.Sprint(v))
			}
		default:
			return nil, fmt.Errorf("unsupported content type %q", ct)
		}
	}
	return q, nil
}

func (s *Sim) reject(r *http.Request, e *apiError) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stats.Rejected++
	s.stats.Rejections = append(s.stats.Rejections, Rejection{Method: r.Method, Path: r.URL.Path, Status: e.status, Errors: e.errs, Message: e.msg})
	return e
}

// injected returns an injected failure for this request, if one is due.
func (s *Sim) injected(r *http.Request, vars map[string]string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.errFails {
		if strings.Contains(r.URL.Path, f.path) {
			s.errFails = append(s.errFails[:i], s.errFails[i+1:]...)
			s.stats.Injected++
			return errf(f.status, "%s", f.message)
		}
	}
	if s.lockFails > 0 && vars["vmid"] != "" && r.Method != http.MethodGet {
		s.lockFails--
		s.stats.Injected++
		return lockErr(vars["vmid"])
	}
	return nil
}

func lockErr(vmid string) *apiError {
	return errf(http.StatusInternalServerError, "can't lock file '/var/lock/qemu-server/lock-%s.conf' - got timeout", vmid)
}
