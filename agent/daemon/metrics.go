package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/homelab-agent/homelab-agent/agent/backup"
	"github.com/homelab-agent/homelab-agent/agent/images"
)

// metrics are the daemon's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg          *prometheus.Registry
	syncs        *prometheus.CounterVec
	syncSeconds  prometheus.Histogram
	applies      *prometheus.CounterVec
	applySeconds prometheus.Histogram
	refused      *prometheus.CounterVec
	webhooks     *prometheus.CounterVec
	lastSyncOK   prometheus.Gauge
	commit       *prometheus.GaugeVec
	rollbacks    prometheus.Counter
	drift        *prometheus.CounterVec
	healthy      prometheus.Gauge
	imageUpdates *prometheus.CounterVec
}

func newMetrics() *metrics {
	const ns = "homelab_agent"
	return &metrics{
		reg: prometheus.NewRegistry(),
		syncs: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "syncs_total",
			Help: "Syncs with the lab repo's server, by result (ok, refused, error)."}, []string{"result"}),
		syncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "sync_duration_seconds",
			Help: "Time of one sync (ref listing, and fetch when the branch moved).", Buckets: prometheus.ExponentialBuckets(0.001, 4, 9)}),
		applies: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "applies_total",
			Help: "Apply passes, by result (ok, error)."}, []string{"result"}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: ns, Name: "apply_duration_seconds",
			Help: "Time of one apply pass.", Buckets: prometheus.ExponentialBuckets(0.001, 4, 10)}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "refused_commits_total",
			Help: "Heads refused, by reason (invalid, apply_failed, untrusted, force_push, unhealthy, wave, panic)."}, []string{"reason"}),
		rollbacks: prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "health_rollbacks_total",
			Help: "Commits rolled back because the host's health probes failed after the change."}),
		drift: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "drift_repaired_total",
			Help: "Resources found changed outside git (the commit unchanged) and put back, by resource."}, []string{"resource"}),
		healthy: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "healthy",
			Help: "1 when the last health check passed, 0 when a probe failed (absent before the first)."}),
		imageUpdates: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "image_updates_total",
			Help: "Image updates run, by result (updated, rolled back, failed)."}, []string{"result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "webhooks_total",
			Help: "Webhook requests, by result (accepted, ignored, unauthorized, disabled)."}, []string{"result"}),
		lastSyncOK: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "last_sync_success_timestamp_seconds",
			Help: "Unix time of the last sync that reached the server."}),
		commit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "applied_commit_info",
			Help: "The applied and the last good commit (value 1)."}, []string{"commit", "last_good"}),
	}
}

func (m *metrics) register(d *Daemon) {
	m.reg.MustRegister(m.syncs, m.syncSeconds, m.applies, m.applySeconds, m.refused, m.webhooks, m.lastSyncOK, m.commit, m.rollbacks, m.drift, m.healthy, m.imageUpdates,
		&images.Collector{Load: d.loadImages},
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "homelab_agent", Name: "seconds_since_last_sync",
			Help: "Seconds since the last sync that reached the server (since start when none did)."},
			func() float64 { s := d.Status(); return s.staleFor(d.clock.Now()).Seconds() }),
		&backup.Collector{Load: d.backups.records},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, r := range []string{"ok", "refused", "error"} {
		m.syncs.WithLabelValues(r)
	}
	for _, r := range []string{"ok", "error"} {
		m.applies.WithLabelValues(r)
	}
	for _, r := range []string{"invalid", "apply_failed", "untrusted", "force_push", "unhealthy", "wave", "panic"} {
		m.refused.WithLabelValues(r)
	}
}

func (m *metrics) setCommits(applied, good string) {
	m.commit.Reset()
	if applied != "" || good != "" {
		m.commit.WithLabelValues(applied, good).Set(1)
	}
}
