package bootstrap

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/homelab-agent/homelab-agent/internal/lazyre"
)

// TokenEnv is the environment variable holding the API token.
const TokenEnv = "PVE_API_TOKEN"

var tokenRe = lazyre.New(`^[^@\s]+@[^!\s]+![A-Za-z][A-Za-z0-9._-]*=\S+$`)

// ParseToken checks an API token written USER@REALM!ID=SECRET (a leading
// "PVEAPIToken=" is dropped) and returns it.
func ParseToken(s string) (string, error) {
	s = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(s), "PVEAPIToken="))
	if !tokenRe.MatchString(s) {
		return "", errors.New("API token must look like USER@REALM!TOKENID=SECRET")
	}
	return s, nil
}

// ClientConfig says how to reach and trust a Proxmox VE API.
type ClientConfig struct {
	// URL is https://HOST:8006 (an /api2/json suffix is optional).
	URL string
	// Token is USER@REALM!TOKENID=SECRET.
	Token string
	// Fingerprint pins the server certificate by its sha256
	// (AA:BB:... or hex); CAFile trusts a CA (e.g. /etc/pve/pve-root-ca.pem).
	// One of them is required.
	Fingerprint, CAFile string
	// Retries is how many times a 5xx answer (config lock timeouts
	// included) is retried (default 6, negative: never); Backoff is the
	// first wait (default 500ms), doubled each time.
	Retries int
	Backoff time.Duration
	// PollInterval is how often tasks and the guest agent are polled.
	PollInterval time.Duration
	Log          *slog.Logger
}

// Client is a small typed client of the Proxmox VE API.
type Client struct {
	base  string
	token string
	hc    *http.Client
	cfg   ClientConfig
	calls atomic.Int64
	retry atomic.Int64
}

// NewClient checks the config and returns a client; it sends nothing.
func NewClient(cfg ClientConfig) (*Client, error) {
	tok, err := ParseToken(cfg.Token)
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(cfg.URL, "/"), "/api2/json"))
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("API URL %q: want https://HOST:8006", cfg.URL)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case cfg.Fingerprint != "":
		want, err := parseFingerprint(cfg.Fingerprint)
		if err != nil {
			return nil, err
		}
		// The node's certificate is self-signed or signed by the cluster's
		// own CA: trust exactly this certificate, by its sha256.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errors.New("no server certificate")
			}
			got := sha256.Sum256(raw[0])
			if hex.EncodeToString(got[:]) != want {
				return fmt.Errorf("server certificate sha256 %s does not match the pinned fingerprint", fingerprint(got[:]))
			}
			return nil
		}
	case cfg.CAFile != "":
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("reading CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tc.RootCAs = pool
	default:
		return nil, errors.New("the node's certificate must be pinned: give its sha256 fingerprint or a CA file")
	}
	if cfg.Retries == 0 {
		cfg.Retries = 6
	}
	if cfg.Backoff == 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.PollInterval == 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 16
	return &Client{
		base: u.String() + "/api2/json", token: tok, cfg: cfg,
		hc: &http.Client{Transport: tr, Timeout: 2 * time.Minute},
	}, nil
}

func parseFingerprint(s string) (string, error) {
	h := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(s), "sha256:"), ":", ""))
	if b, err := hex.DecodeString(h); err != nil || len(b) != sha256.Size {
		return "", fmt.Errorf("fingerprint %q: want the certificate's sha256 as AA:BB:... (64 hex digits)", s)
	}
	return h, nil
}

func fingerprint(sum []byte) string {
	h := strings.ToUpper(hex.EncodeToString(sum))
	var p []string
	for i := 0; i < len(h); i += 2 {
		p = append(p, h[i:i+2])
	}
	return strings.Join(p, ":")
}

// Calls is the number of HTTP requests sent; Retries how many were retries.
func (c *Client) Calls() int64   { return c.calls.Load() }
func (c *Client) Retries() int64 { return c.retry.Load() }

// APIError is an error answer from the API.
type APIError struct {
	Method, Path string
	Status       int
	Message      string
	// Errors holds per-parameter messages of a 400 answer.
	Errors map[string]string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, strings.TrimSpace(e.Message))
	for k, v := range e.Errors {
		msg += fmt.Sprintf("; %s: %s", k, strings.TrimSpace(v))
	}
	return msg
}

// Transient reports whether retrying may help: 5xx (config lock timeouts
// included) except 501, which Proxmox answers for unknown methods.
func (e *APIError) Transient() bool { return e.Status >= 500 && e.Status != 501 }

// TaskError is a task that stopped with an exit status other than OK.
type TaskError struct {
	UPID, Type, ID, ExitStatus string
}

func (e *TaskError) Error() string {
	return fmt.Sprintf("task %s %s failed: %s", e.Type, e.ID, e.ExitStatus)
}

// Do sends one request and decodes the answer's data into out (if not
// nil). 5xx answers are retried with exponential backoff.
func (c *Client) Do(ctx context.Context, method, path string, params url.Values, out any) error {
	return c.do(ctx, method, path, params, out, true)
}

func (c *Client) do(ctx context.Context, method, path string, params url.Values, out any, retry bool) error {
	wait := c.cfg.Backoff
	for attempt := 0; ; attempt++ {
		err := c.once(ctx, method, path, params, out)
		var ae *APIError
		if err == nil || !retry || !errors.As(err, &ae) || !ae.Transient() || attempt >= c.cfg.Retries {
			return err
		}
		c.retry.Add(1)
		c.cfg.Log.Info("retrying", "method", method, "path", path, "error", err, "wait", wait)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait *= 2
	}
}

func (c *Client) once(ctx context.Context, method, path string, params url.Values, out any) error {
	u := c.base + path
	var body io.Reader
	if method == http.MethodGet || method == http.MethodDelete {
		if len(params) > 0 {
			u += "?" + params.Encode()
		}
	} else {
		body = strings.NewReader(params.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "PVEAPIToken="+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	c.calls.Add(1)
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("%s %s: reading answer: %w", method, path, err)
	}
	var env struct {
		Data    json.RawMessage   `json:"data"`
		Message string            `json:"message"`
		Errors  map[string]string `json:"errors"`
	}
	_ = json.Unmarshal(data, &env)
	if resp.StatusCode != http.StatusOK {
		msg := env.Message
		if msg == "" {
			msg = strings.TrimPrefix(resp.Status, fmt.Sprint(resp.StatusCode)+" ")
		}
		return &APIError{Method: method, Path: path, Status: resp.StatusCode, Message: msg, Errors: env.Errors}
	}
	if out != nil && len(env.Data) > 0 && string(env.Data) != "null" {
		if err := json.Unmarshal(env.Data, out); err != nil {
			return fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
		}
	}
	return nil
}

// Task sends a request that starts a task and waits until the task stops;
// a task whose exit status is not OK is a *TaskError.
func (c *Client) Task(ctx context.Context, method, path string, params url.Values) error {
	var upid string
	if err := c.Do(ctx, method, path, params, &upid); err != nil {
		return err
	}
	if upid == "" {
		return nil // some calls run synchronously when there is nothing to do
	}
	return c.WaitTask(ctx, upid)
}

// WaitTask polls a task until it stops and checks its exit status.
func (c *Client) WaitTask(ctx context.Context, upid string) error {
	node := strings.Split(upid, ":")
	if len(node) < 3 || node[0] != "UPID" {
		return fmt.Errorf("not a task ID: %q", upid)
	}
	path := "/nodes/" + node[1] + "/tasks/" + url.PathEscape(upid) + "/status"
	wait := c.firstPoll()
	for {
		var st struct {
			Status     string `json:"status"`
			ExitStatus string `json:"exitstatus"`
			Type       string `json:"type"`
			ID         string `json:"id"`
		}
		if err := c.Do(ctx, http.MethodGet, path, nil, &st); err != nil {
			return err
		}
		if st.Status == "stopped" {
			if st.ExitStatus != "OK" {
				return &TaskError{UPID: upid, Type: st.Type, ID: st.ID, ExitStatus: st.ExitStatus}
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for task %s: %w", upid, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, c.cfg.PollInterval)
	}
}

// WaitAgent polls the VM's guest agent until it answers. Answers that
// mean "not up yet" (5xx) are polled again, without counting as retries.
func (c *Client) WaitAgent(ctx context.Context, node string, vmid int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	path := fmt.Sprintf("/nodes/%s/qemu/%d/agent/ping", node, vmid)
	var last error
	wait := c.firstPoll()
	for {
		err := c.do(ctx, http.MethodPost, path, nil, nil, false)
		if err == nil {
			return nil
		}
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Transient() {
			if ctx.Err() != nil {
				return fmt.Errorf("VM %d: guest agent did not answer within %s (last: %v)", vmid, timeout, last)
			}
			return err
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("VM %d: guest agent did not answer within %s (last: %v)", vmid, timeout, last)
		case <-time.After(wait):
		}
		wait = min(2*wait, c.cfg.PollInterval)
	}
}

// firstPoll is the first wait of a poll: short, since many tasks are quick;
// later waits double up to PollInterval.
func (c *Client) firstPoll() time.Duration { return min(100*time.Millisecond, c.cfg.PollInterval) }
