package images

import (
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the image records as Prometheus gauges, read at
// scrape time, per service (labels project, service).
type Collector struct {
	// Load returns the store to expose; nil exposes nothing.
	Load func() (*Store, error)
}

var _ prometheus.Collector = (*Collector)(nil)

var (
	imageInfo = prometheus.NewDesc("homelab_image_info",
		"The image a service runs (value 1): the reference and its registry digest.", []string{"project", "service", "image", "digest"}, nil)
	imageAvailable = prometheus.NewDesc("homelab_image_update_available",
		"1 when the registry has an image the service's policy would move to.", []string{"project", "service"}, nil)
	imageLastUpdate = prometheus.NewDesc("homelab_image_last_update_timestamp_seconds",
		"When the service's last image update ran, by its result (updated, rolled back, failed).", []string{"project", "service", "result"}, nil)
	imageUpdateFailed = prometheus.NewDesc("homelab_image_last_update_failed",
		"1 when the service's last image update was rolled back or failed.", []string{"project", "service"}, nil)
	imageCheckFailing = prometheus.NewDesc("homelab_image_check_failing",
		"1 when the last registry check of the service's image failed.", []string{"project", "service"}, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{imageInfo, imageAvailable, imageLastUpdate, imageUpdateFailed, imageCheckFailing} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.Load == nil {
		return
	}
	s, err := c.Load()
	if err != nil || s == nil {
		return
	}
	recs, keys := s.Records()
	for _, k := range keys {
		r := recs[k]
		project, service, _ := strings.Cut(k, "/")
		g := func(d *prometheus.Desc, v float64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{project, service}, labels...)...)
		}
		running := r.Running
		if running == "" {
			running = r.Image
		}
		g(imageInfo, 1, running, r.Digest)
		g(imageAvailable, b2f(r.Available != ""))
		g(imageCheckFailing, b2f(r.CheckError != ""))
		if r.Last != nil {
			g(imageLastUpdate, float64(r.Last.At.UnixNano())/float64(time.Second), r.Last.Result)
			g(imageUpdateFailed, b2f(r.Last.Result != ResultUpdated))
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
