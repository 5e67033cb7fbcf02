package images_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/homelab-agent/homelab-agent/agent/images"
	"github.com/homelab-agent/homelab-agent/agent/images/imagestest"
)

// tenImages pushes app0..app9 at tag 1.0.0 and returns their refs and digests.
func tenImages(t testing.TB, reg *imagestest.Registry) (refs, digests []string) {
	for i := range 10 {
		repoTag := fmt.Sprintf("app%d:1.0.0", i)
		digests = append(digests, reg.Push(t, repoTag, imagestest.Image(t, fmt.Sprintf("N=%d", i))))
		refs = append(refs, reg.Ref(repoTag))
	}
	return refs, digests
}

func TestCheckIsOneHeadPerImageAndCached(t *testing.T) {
	reg := imagestest.Start(t)
	refs, digests := tenImages(t, reg)
	root := t.TempDir()
	store, err := images.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 4, 0, 0, 0, time.UTC)
	c := &images.Checker{Store: store, Now: func() time.Time { return now }}
	reg.Reset()
	for i, ref := range refs {
		got, err := c.Want(context.Background(), images.Rules{Policy: images.Track}, ref, "")
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != digests[i] || got.Tag != "1.0.0" {
			t.Errorf("%s: got %+v, want digest %s", ref, got, digests[i])
		}
	}
	hits := reg.Hits()
	if hits[imagestest.ManifestHead] != 10 || hits[imagestest.Blob] != 0 || hits[imagestest.ManifestGet] != 0 || hits[imagestest.Ping] != 1 {
		t.Errorf("requests for 10 images: %v; want 10 manifest HEADs, one ping, no GET, no blob", hits)
	}
	if err := store.Save(); err != nil {
		t.Fatal(err)
	}

	// A restarted agent reads the cache and asks nothing within the TTL...
	store2, err := images.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	reg.Reset()
	c2 := &images.Checker{Store: store2, Now: func() time.Time { return now.Add(time.Hour) }}
	for _, ref := range refs {
		if _, err := c2.Want(context.Background(), images.Rules{Policy: images.Track}, ref, ""); err != nil {
			t.Fatal(err)
		}
	}
	if hits := reg.Hits(); len(hits) != 0 {
		t.Errorf("within the TTL after a restart: %v, want no request", hits)
	}
	// ...and asks again after it.
	c3 := &images.Checker{Store: store2, Now: func() time.Time { return now.Add(images.DefaultTTL) }}
	if _, err := c3.Want(context.Background(), images.Rules{Policy: images.Track}, refs[0], ""); err != nil {
		t.Fatal(err)
	}
	if hits := reg.Hits(); hits[imagestest.ManifestHead] != 1 {
		t.Errorf("after the TTL: %v, want one HEAD", hits)
	}
}

func TestPatchAndMinorAskTheTagList(t *testing.T) {
	reg := imagestest.Start(t)
	want := map[string]string{}
	for _, tag := range []string{"30.0.1", "30.0.4", "30.1.0", "31.0.0", "30.0.5-apache"} {
		want[tag] = reg.Push(t, "cloud:"+tag, imagestest.Image(t, "V="+tag))
	}
	store, _ := images.Open(t.TempDir())
	c := &images.Checker{Store: store}
	ctx := context.Background()
	reg.Reset()
	for _, tc := range []struct {
		p         images.Policy
		image     string
		running   string
		wantTag   string
		majorStep bool
	}{
		{images.Patch, "cloud:30.0", "", "30.0.4", false},
		{images.Minor, "cloud:30.0", "", "30.1.0", false},
		{images.Minor, "cloud:31", "30.0.4", "31.0.0", true},
		{images.Track, "cloud:31.0.0", "30.0.4", "31.0.0", true},
		{images.Track, "cloud:31.0.0", "28.0.0", "", true}, // no release of 29: refused
	} {
		got, err := c.Want(ctx, images.Rules{Policy: tc.p, MajorStep: tc.majorStep}, reg.Ref(tc.image), tc.running)
		if tc.wantTag == "" {
			if err == nil {
				t.Errorf("%s %s from %s: got %+v, want an error", tc.p, tc.image, tc.running, got)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got.Tag != tc.wantTag || got.Digest != want[tc.wantTag] {
			t.Errorf("%s %s: got %+v, want %s %s", tc.p, tc.image, got, tc.wantTag, want[tc.wantTag])
		}
	}
	if _, err := c.Want(ctx, images.Rules{Policy: images.Minor}, reg.Ref("cloud:apache"), ""); err == nil {
		t.Error("minor on a non-version tag must be an error")
	}
	if hits := reg.Hits(); hits[imagestest.Blob] != 0 {
		t.Errorf("a check transferred blobs: %v", hits)
	}
}

// BenchmarkUpdateCheck10NoNews is the check of 10 images whose registry
// has nothing new, with a cold cache (a fresh store each time): one
// /v2/ handshake and ten manifest HEADs, no blob.
func BenchmarkUpdateCheck10NoNews(b *testing.B) {
	reg := imagestest.Start(b)
	refs, digests := tenImages(b, reg)
	ctx := context.Background()
	reg.Reset()
	b.ResetTimer()
	for b.Loop() {
		store, err := images.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		c := &images.Checker{Store: store}
		for i, ref := range refs {
			got, err := c.Want(ctx, images.Rules{Policy: images.Track}, ref, "")
			if err != nil {
				b.Fatal(err)
			}
			if got.Digest != digests[i] {
				b.Fatalf("%s: news where there is none: %s", ref, got.Digest)
			}
		}
	}
	b.StopTimer()
	hits := reg.Hits()
	if hits[imagestest.Blob] != 0 || hits[imagestest.ManifestGet] != 0 {
		b.Fatalf("the check transferred more than manifests' heads: %v", hits)
	}
	b.ReportMetric(float64(hits[imagestest.ManifestHead]+hits[imagestest.Ping])/float64(b.N), "requests/op")
	b.ReportMetric(float64(hits[imagestest.Blob])/float64(b.N), "blobs/op")
}
