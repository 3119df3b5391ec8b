package main

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/httpev/httpev"
)

// GET /metrics serves the server's Stats, with the Go runtime's and the
// process's own metrics, in Prometheus's text format, so that a Prometheus
// (or anything that reads its format) can watch the app. The library has
// no Prometheus dependency: this collector turns its Stats snapshot into
// metrics at each scrape, which costs the request path nothing.

// statsCollector is a prometheus.Collector reading a Stats snapshot at
// each scrape ("const metrics"): the counters live in the library, already
// striped and atomic, so nothing here is updated per request.
type statsCollector struct {
	stats func() httpev.Stats

	conns, accepted, requests, bytesIn, bytesOut *prometheus.Desc
	uploads, diskBytes, diskFiles, dropped       *prometheus.Desc
}

func newStatsCollector(stats func() httpev.Stats) *statsCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("httpev_"+name, help, labels, nil)
	}
	return &statsCollector{
		stats:     stats,
		conns:     d("connections", "Connections open, by where they wait: resident (served by the Linux poller), parked (idle in the poller, no goroutine), goroutine.", "state"),
		accepted:  d("connections_accepted_total", "Connections accepted."),
		requests:  d("requests_total", "Finished requests by the status class of their answer (none: no answer begun).", "class"),
		bytesIn:   d("received_bytes_total", "Bytes read from clients."),
		bytesOut:  d("sent_bytes_total", "Bytes written to clients."),
		uploads:   d("uploads_in_flight", "Request bodies being streamed into temp files."),
		diskBytes: d("upload_disk_bytes", "Bytes of received files in the temp directory."),
		diskFiles: d("upload_disk_files", "Received files in the temp directory."),
		dropped:   d("requests_dropped_total", "Requests that did not get their full answer, by cause.", "cause"),
	}
}

// Describe implements prometheus.Collector.
func (s *statsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.conns, s.accepted, s.requests, s.bytesIn, s.bytesOut,
		s.uploads, s.diskBytes, s.diskFiles, s.dropped} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one snapshot per scrape.
func (s *statsCollector) Collect(ch chan<- prometheus.Metric) {
	st := s.stats()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(s.conns, float64(st.ConnsResident), "resident")
	gauge(s.conns, float64(st.ConnsParked), "parked")
	gauge(s.conns, float64(st.ConnsOnGoroutines), "goroutine")
	counter(s.accepted, st.ConnsAccepted)
	for class, n := range st.Requests {
		label := "none"
		if class > 0 {
			label = strconv.Itoa(class) + "xx"
		}
		counter(s.requests, n, label)
	}
	counter(s.bytesIn, st.BytesIn)
	counter(s.bytesOut, st.BytesOut)
	gauge(s.uploads, float64(st.UploadsInFlight))
	gauge(s.diskBytes, float64(st.UploadBytesOnDisk))
	gauge(s.diskFiles, float64(st.UploadFilesOnDisk))
	dr := st.Dropped
	for _, c := range []struct {
		cause string
		n     uint64
	}{{"timeout", dr.Timeout}, {"limit", dr.Limit}, {"malformed", dr.Malformed}, {"client_gone", dr.ClientGone},
		{"panic", dr.Panic}, {"overload", dr.Overload}, {"application", dr.Application}, {"shutdown", dr.Shutdown},
		{"other", dr.Other}} {
		counter(s.dropped, c.n, c.cause)
	}
}

// newMetrics builds the registry /metrics serves: the server's Stats and
// the Go runtime's and process's collectors (memory, goroutines, open
// descriptors), which tell what the Stats alone cannot.
func newMetrics(stats func() httpev.Stats) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newStatsCollector(stats),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// metrics answers GET /metrics. Gathering reads /proc, so it runs off the
// loop goroutine.
func (a *app) metrics(c *httpev.CGI) {
	a.offLoop(c, func() {
		mfs, err := a.reg.Gather()
		if err != nil {
			a.log.Warn("gathering metrics", "err", err) // a partial answer is still useful
		}
		var b bytes.Buffer
		format := expfmt.NewFormat(expfmt.TypeTextPlain)
		enc := expfmt.NewEncoder(&b, format)
		for _, mf := range mfs {
			if err := enc.Encode(mf); err != nil {
				writeError(c, http.StatusInternalServerError, "encoding metrics failed")
				return
			}
		}
		c.Header(http.Header{"Content-Type": {string(format)}, "Cache-Control": {"no-store"}})
		_, _ = c.Write(b.Bytes())
	})
}
