package pvesim_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/bootstrap"
	"github.com/homelab-agent/homelab-agent/bootstrap/pvesim"
)

const token = "root@pam!t=secret"

func start(t *testing.T, o pvesim.Options) (*pvesim.Sim, *bootstrap.Client) {
	t.Helper()
	o.Schema = pvesim.TestingSchema(t)
	o.Token = token
	o.Root = t.TempDir()
	sim := pvesim.New(o)
	u := sim.StartTLS()
	t.Cleanup(sim.Close)
	c, err := bootstrap.NewClient(bootstrap.ClientConfig{URL: u, Token: token, Fingerprint: sim.Fingerprint(),
		Retries: -1, PollInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim, c
}

func TestConfigLockedWhileATaskRuns(t *testing.T) {
	sim, c := start(t, pvesim.Options{DefaultTask: 300 * time.Millisecond})
	ctx := context.Background()
	var upid string
	if err := c.Do(ctx, "POST", "/nodes/pve/qemu", url.Values{"vmid": {"200"}, "name": {"a"}}, &upid); err != nil {
		t.Fatal(err)
	}
	err := c.Do(ctx, "PUT", "/nodes/pve/qemu/200/config", url.Values{"cores": {"2"}}, nil)
	var ae *bootstrap.APIError
	if !errors.As(err, &ae) || ae.Status != 500 || !strings.Contains(ae.Message, "can't lock file '/var/lock/qemu-server/lock-200.conf' - got timeout") {
		t.Fatalf("change during create: %v", err)
	}
	if err := c.WaitTask(ctx, upid); err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "PUT", "/nodes/pve/qemu/200/config", url.Values{"cores": {"2"}}, nil); err != nil {
		t.Fatalf("change after create: %v", err)
	}
	if sim.VM(200).Config["cores"] != "2" {
		t.Error("cores not set")
	}
}

func TestStartChecksBridgeAndSnippet(t *testing.T) {
	_, c := start(t, pvesim.Options{DefaultTask: time.Millisecond})
	ctx := context.Background()
	for _, tc := range []struct {
		vmid string
		set  url.Values
		want string
	}{
		{"201", url.Values{"net0": {"virtio,bridge=vmbr9"}}, "bridge 'vmbr9' does not exist"},
		{"202", url.Values{"cicustom": {"vendor=local:snippets/x.yaml"}}, "storage 'local' does not support content-type 'snippets'"},
	} {
		tc.set.Set("vmid", tc.vmid)
		if err := c.Task(ctx, "POST", "/nodes/pve/qemu", tc.set); err != nil {
			t.Fatal(err)
		}
		err := c.Task(ctx, "POST", "/nodes/pve/qemu/"+tc.vmid+"/status/start", nil)
		var te *bootstrap.TaskError
		if !errors.As(err, &te) || te.Type != "qmstart" || te.ExitStatus != tc.want {
			t.Errorf("start %s: %v, want exit status %q", tc.vmid, err, tc.want)
		}
	}
}

func TestImportNeedsTheImage(t *testing.T) {
	sim, c := start(t, pvesim.Options{DefaultTask: time.Millisecond})
	err := c.Task(context.Background(), "POST", "/nodes/pve/qemu", url.Values{"vmid": {"203"},
		"scsi0": {"local-lvm:0,import-from=local:import/missing.qcow2"}})
	var te *bootstrap.TaskError
	if !errors.As(err, &te) || te.ExitStatus != "volume 'local:import/missing.qcow2' does not exist" {
		t.Fatalf("import of a missing image: %v", err)
	}
	if sim.VM(203) != nil {
		t.Error("a failed create left a VM")
	}
	if st := sim.Stats(); st.Rejected != 0 {
		t.Errorf("rejections: %+v", st.Rejections)
	}
}
