package bootstrap

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"
)

// ChecksumClient fetches SHA512SUMS files; tests may replace it.
var ChecksumClient = &http.Client{Timeout: time.Minute}

// FetchChecksum reads the SHA512SUMS file beside an image URL (as Debian
// publishes it) and returns the image's sha512.
func FetchChecksum(ctx context.Context, imageURL string) (algo, sum string, err error) {
	i := strings.LastIndex(imageURL, "/")
	if i < 0 {
		return "", "", fmt.Errorf("image URL %q has no folder", imageURL)
	}
	sumsURL := imageURL[:i+1] + "SHA512SUMS"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sumsURL, nil)
	if err != nil {
		return "", "", err
	}
	resp, err := ChecksumClient.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("fetching the image checksum: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("fetching %s: %s (pin the checksum in bootstrap.image.checksum)", sumsURL, resp.Status)
	}
	name := path.Base(imageURL)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && strings.TrimPrefix(f[1], "*") == name && len(f[0]) == 128 {
			return "sha512", strings.ToLower(f[0]), nil
		}
	}
	return "", "", fmt.Errorf("%s lists no sha512 for %s", sumsURL, name)
}
