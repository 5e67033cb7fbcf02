// Package images decides image updates: the update policy of a service
// (pinned, patch, minor, track), the tag a policy moves to among a
// repository's tags, the registry's digest for a tag (one HEAD request
// on the manifest, never a pull), a cache of those answers kept in the
// agent's state folder, and the per-service record of what runs, what
// is available and how the last update went (images.json).
//
// It talks to registries only; the Docker Engine side (pull, recreate,
// health wait, rollback) is agent/docker's Update.
package images
