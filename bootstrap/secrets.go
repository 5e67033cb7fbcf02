package bootstrap

import (
	"fmt"

	"filippo.io/age"

	"github.com/homelab-agent/homelab-agent/agent/lab"
	"github.com/homelab-agent/homelab-agent/agent/secrets/vault"
)

// Names in the lab repo's admin file (secrets/admin.env.age, opened with
// the master key only) that bootstrap hands to every guest with its
// identity.
const (
	SecretRepoToken  = "LAB_REPO_TOKEN"  // HTTPS token for a private lab repo (agent.yaml auth.token)
	SecretDeployKey  = "LAB_DEPLOY_KEY"  // SSH deploy key for a private lab repo (auth.ssh_key)
	SecretKnownHosts = "LAB_KNOWN_HOSTS" // the repo server's SSH host keys (auth.known_hosts)
	SecretWebhook    = "WEBHOOK_SECRET"  // agent.yaml webhook_secret
)

// GuestSecrets is what a guest gets at creation in its vendor data (a
// snippet of mode 0600 on the node): its age identity, derived from the
// master key, and its agent's credentials for the lab repo.
type GuestSecrets struct {
	Identity                                    string // an age identity file's text
	Token, DeployKey, KnownHosts, WebhookSecret string
}

// withSecrets derives each VM's identity from master and reads the admin
// file, and re-renders the snippets with them. Without a master key a lab
// that keeps encrypted secrets cannot be bootstrapped: its guests could
// not read them.
func withSecrets(l *lab.Lab, specs []*VMSpec, master *age.X25519Identity) error {
	if master == nil {
		files, err := (&vault.Repo{Dir: l.Dir}).Files()
		if err != nil {
			return err
		}
		if len(files) > 0 {
			return fmt.Errorf("the lab keeps encrypted secrets (%s/): give the master key (--master-key or $%s) so that every guest gets its identity", vault.Dir, vault.MasterKeyEnv)
		}
		return nil
	}
	admin, err := (&vault.Repo{Dir: l.Dir, Master: master}).Read(vault.Admin)
	if err != nil {
		return err
	}
	for _, v := range specs {
		in := v.vendor
		if in.Secrets, err = guestSecrets(admin, master, v.Host); err != nil {
			return err
		}
		v.Snippet = VendorData(in)
		v.Secret = true
	}
	return nil
}

// GuestSecretsOf is what bootstrap hands host at creation: its identity,
// derived from master, and the repo credentials and webhook secret of the
// lab's admin file (secrets/admin.env.age in labDir).
func GuestSecretsOf(labDir string, master *age.X25519Identity, host string) (*GuestSecrets, error) {
	admin, err := (&vault.Repo{Dir: labDir, Master: master}).Read(vault.Admin)
	if err != nil {
		return nil, err
	}
	return guestSecrets(admin, master, host)
}

func guestSecrets(admin vault.Values, master *age.X25519Identity, host string) (*GuestSecrets, error) {
	if host == vault.Admin {
		return nil, fmt.Errorf("host %s: the name is taken by %s (the master key's own file); rename the host", host, vault.FileOf(vault.Admin))
	}
	id, err := vault.DeriveHost(master, host)
	if err != nil {
		return nil, err
	}
	return &GuestSecrets{
		Identity:      string(vault.IdentityText(host, id)),
		Token:         admin[SecretRepoToken].Value,
		DeployKey:     admin[SecretDeployKey].Value,
		KnownHosts:    admin[SecretKnownHosts].Value,
		WebhookSecret: admin[SecretWebhook].Value,
	}, nil
}
