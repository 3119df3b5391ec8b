package poller

import (
	"strconv"
	"strings"
	"time"
)

// buildTuning lets a measurement build change the defaults without an API
// or an environment variable read in production: it is empty unless set
// at link time, e.g.
//
//	go build -ldflags '-X github.com/httpev/httpev/internal/poller.buildTuning=Slow=50us,Tick=250us' ./cmd/hello
//
// (bench/README: how the thresholds in policy_linux.go were measured one
// against another). Names are Tuning's fields; a bad entry panics at
// start, so a measurement never runs silently on the defaults.
var buildTuning string

// overrideTuning applies buildTuning to t.
func overrideTuning(t *Tuning) {
	if buildTuning == "" {
		return
	}
	for _, kv := range strings.Split(buildTuning, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			panic("poller: buildTuning entry without '=': " + kv)
		}
		var err error
		dur := func(d *time.Duration) { *d, err = time.ParseDuration(v) }
		num := func(n *int64) { *n, err = strconv.ParseInt(v, 10, 64) }
		switch k {
		case "Grace":
			dur(&t.Grace)
		case "Tick":
			dur(&t.Tick)
		case "Slow":
			dur(&t.Slow)
		case "Backoff":
			dur(&t.Backoff)
		case "MaxBackoff":
			dur(&t.MaxBackoff)
		case "AvgWeight":
			num(&t.AvgWeight)
		case "Batch", "WatchIdleTicks", "SlowPercent":
			var n int64
			num(&n)
			switch k {
			case "Batch":
				t.Batch = int(n)
			case "WatchIdleTicks":
				t.WatchIdleTicks = int(n)
			default:
				t.SlowPercent = int(n)
			}
		default:
			panic("poller: buildTuning: unknown field " + k)
		}
		if err != nil {
			panic("poller: buildTuning: " + kv + ": " + err.Error())
		}
	}
}
