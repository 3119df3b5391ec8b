package main

import (
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scrape fetches /metrics and parses it with Prometheus's own text parser,
// which fails on anything a Prometheus server would refuse.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client().Get(base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, expfmt.TypeTextPlain, expfmt.ResponseFormat(resp.Header).FormatType(), resp.Header.Get("Content-Type"))
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mfs
}

// sample is the value of the metric name with the label pair given (none:
// the only sample).
func sample(t *testing.T, mfs map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	mf, ok := mfs[name]
	require.True(t, ok, "no metric %s", name)
	for _, m := range mf.GetMetric() {
		if len(label) == 0 {
			return value(mf, m)
		}
		for _, lp := range m.GetLabel() {
			if lp.GetName() == label[0] && lp.GetValue() == label[1] {
				return value(mf, m)
			}
		}
	}
	t.Fatalf("no sample %s%v", name, label)
	return 0
}

func value(mf *dto.MetricFamily, m *dto.Metric) float64 {
	if mf.GetType() == dto.MetricType_COUNTER {
		return m.GetCounter().GetValue()
	}
	return m.GetGauge().GetValue()
}

func TestMetrics(t *testing.T) {
	for _, threading := range []string{"false", "true"} {
		t.Run("threading="+threading, func(t *testing.T) {
			a := startApp(t, "-threading="+threading)
			before := scrape(t, a.base)
			for _, name := range []string{"httpev_requests_total", "httpev_requests_dropped_total",
				"httpev_received_bytes_total", "httpev_sent_bytes_total", "httpev_connections_accepted_total"} {
				assert.Equal(t, dto.MetricType_COUNTER, before[name].GetType(), name)
			}
			for _, name := range []string{"httpev_connections", "httpev_uploads_in_flight", "httpev_upload_disk_bytes"} {
				assert.Equal(t, dto.MetricType_GAUGE, before[name].GetType(), name)
			}
			assert.Contains(t, before, "go_goroutines", "the Go collector")
			assert.Contains(t, before, "process_resident_memory_bytes", "the process collector")

			// What the test does between the two scrapes: 3 pages, a 404,
			// an upload of 1 MiB, a request too large for the server.
			for range 3 {
				status, _, _ := do(t, newRequest(t, "GET", a.base+"/", nil))
				require.Equal(t, 200, status)
			}
			status, _, _ := do(t, newRequest(t, "GET", a.base+"/nope", nil))
			require.Equal(t, 404, status)
			data := randomBytes(t, 1<<20)
			upload(t, a.base, "", part{field: "f", name: "m.bin", data: data})
			big := newRequest(t, "GET", a.base+"/?q="+strings.Repeat("x", 8<<10), nil)
			status, _, _ = do(t, big)
			require.Equal(t, 414, status)

			after := scrape(t, a.base)
			delta := func(name string, label ...string) float64 {
				return sample(t, after, name, label...) - sample(t, before, name, label...)
			}
			// The first scrape is counted once its answer is out: 2xx is
			// 3 pages + the upload, + maybe that scrape.
			assert.InDelta(t, 4.5, delta("httpev_requests_total", "class", "2xx"), 0.5, "3 pages, the upload, maybe the first scrape")
			assert.Equal(t, 2.0, delta("httpev_requests_total", "class", "4xx"), "the 404 and the 414")
			assert.Equal(t, 1.0, delta("httpev_requests_dropped_total", "cause", "limit"), "the 414")
			assert.Zero(t, delta("httpev_requests_dropped_total", "cause", "panic"))
			assert.GreaterOrEqual(t, delta("httpev_received_bytes_total"), float64(len(data)+8<<10))
			assert.Greater(t, delta("httpev_sent_bytes_total"), 0.0)
			assert.Zero(t, sample(t, after, "httpev_uploads_in_flight"))
			assert.Zero(t, sample(t, after, "httpev_upload_disk_bytes"), "the upload was saved out of the temp directory")
			open := sample(t, after, "httpev_connections", "state", "resident") +
				sample(t, after, "httpev_connections", "state", "parked") +
				sample(t, after, "httpev_connections", "state", "goroutine")
			assert.GreaterOrEqual(t, open, 1.0, "at least the scrape's own connection")
			t.Logf("2xx %.0f, 4xx %.0f, bytes in %.0f, out %.0f, open connections %.0f, RSS %.1f MiB",
				sample(t, after, "httpev_requests_total", "class", "2xx"), sample(t, after, "httpev_requests_total", "class", "4xx"),
				sample(t, after, "httpev_received_bytes_total"), sample(t, after, "httpev_sent_bytes_total"), open,
				sample(t, after, "process_resident_memory_bytes")/(1<<20))
		})
	}
}
