//go:build e2e

package e2e

import "testing"

// TestImages builds the drill's images (cached afterwards): `make e2e`
// runs it first so that a broken recipe fails alone.
func TestImages(t *testing.T) {
	t.Logf("guest %s, cache %s", guestImage(t), cacheImage(t))
}
