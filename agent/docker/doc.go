// Package docker owns the container resource: a compose project (one or
// more compose files parsed by compose-go) converged on the Docker Engine
// API. Every object the agent creates carries the labels below; the agent
// only ever touches containers that carry them. Converging creates what is
// missing, recreates a container only when the hash of its desired spec
// differs, in dependency order (waiting for service_healthy where asked),
// and removes managed containers whose service left the repo. It never
// removes a volume and never deletes anything on the host's disk.
package docker

// Labels put on every managed container, network and volume.
const (
	// LabelProject names the compose project (the role or app name).
	LabelProject = "dev.homelab-agent.project"
	// LabelService names the compose service.
	LabelService = "dev.homelab-agent.service"
	// LabelHash is the hash of the container's desired spec.
	LabelHash = "dev.homelab-agent.spec-hash"
	// LabelFields holds a hash per spec field (never a value), so that
	// plan can say which field changed.
	LabelFields = "dev.homelab-agent.spec-fields"
	// LabelManaged marks every object the agent created.
	LabelManaged = "dev.homelab-agent.managed"
)

// Subsystem is the name --only uses for containers.
const Subsystem = "containers"
