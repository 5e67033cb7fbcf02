package backup

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exposes the backup records as Prometheus gauges, read at
// scrape time: per service (label service) the last success and failure
// times, whether it is failing, the last duration and the bytes the last
// success added; per maintenance task (label op: prune, check) the last
// success time and whether it is failing.
type Collector struct {
	// Load returns the records to expose; nil exposes nothing (a host
	// without backups).
	Load func() (*Status, error)
}

var _ prometheus.Collector = (*Collector)(nil)

type serviceGauge struct {
	desc *prometheus.Desc
	val  func(*Record) float64
}

var (
	serviceGauges = []serviceGauge{
		{prometheus.NewDesc("homelab_backup_last_success_timestamp_seconds", "When the service's last successful backup started.", []string{"service"}, nil),
			func(r *Record) float64 { return unixSeconds(r.LastSuccess) }},
		{prometheus.NewDesc("homelab_backup_last_failure_timestamp_seconds", "When the service's last failed backup started.", []string{"service"}, nil),
			func(r *Record) float64 { return unixSeconds(r.LastFailure) }},
		{prometheus.NewDesc("homelab_backup_failing", "1 when the service's last backup failed.", []string{"service"}, nil),
			func(r *Record) float64 { return b2f(r.Failing()) }},
		{prometheus.NewDesc("homelab_backup_last_duration_seconds", "Wall time of the service's last backup.", []string{"service"}, nil),
			func(r *Record) float64 { return r.DurationSeconds }},
		{prometheus.NewDesc("homelab_backup_last_bytes_added", "Bytes the service's last successful backup added to the repository.", []string{"service"}, nil),
			func(r *Record) float64 { return float64(r.BytesAdded) }},
	}
	maintenanceSuccess = prometheus.NewDesc("homelab_backup_maintenance_last_success_timestamp_seconds",
		"When the last successful prune or check started.", []string{"op"}, nil)
	maintenanceFailing = prometheus.NewDesc("homelab_backup_maintenance_failing",
		"1 when the last prune or check failed.", []string{"op"}, nil)
	statusError = prometheus.NewDesc("homelab_backup_status_error",
		"1 when the backup status file cannot be read.", nil, nil)
)

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, g := range serviceGauges {
		ch <- g.desc
	}
	ch <- maintenanceSuccess
	ch <- maintenanceFailing
	ch <- statusError
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s, err := c.Load()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(statusError, prometheus.GaugeValue, 1)
		return
	}
	if s == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(statusError, prometheus.GaugeValue, 0)
	for name, r := range s.Services {
		for _, g := range serviceGauges {
			ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, g.val(r), name)
		}
	}
	for _, op := range []struct {
		name string
		r    *Record
	}{{TaskPrune, s.Prune}, {TaskCheck, s.Check}} {
		if op.r == nil {
			continue
		}
		ch <- prometheus.MustNewConstMetric(maintenanceSuccess, prometheus.GaugeValue, unixSeconds(op.r.LastSuccess), op.name)
		ch <- prometheus.MustNewConstMetric(maintenanceFailing, prometheus.GaugeValue, b2f(op.r.Failing()), op.name)
	}
}

func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}
