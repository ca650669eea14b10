package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// scrape reads /metrics over HTTP and parses the text format.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// metricValue sums the samples of a family whose labels include want;
// histograms count observations.
func metricValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.Counter.GetValue()
		case m.Gauge != nil:
			sum += m.Gauge.GetValue()
		case m.Histogram != nil:
			sum += float64(m.Histogram.GetSampleCount())
		}
	}
	return sum
}

// TestOpsEndpoints runs a real worker behind the ops handler, scrapes
// /metrics and /readyz over HTTP, then stalls it (its private Redis
// refuses writes with CLIENT PAUSE) and proves /readyz turns unready
// within the heartbeat bound and recovers once Redis takes writes again.
func TestOpsEndpoints(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	rs := testenv.StartRedis(t)
	b := pgredistest.New(t, `CREATE TABLE t (id int PRIMARY KEY, v text)`, "t")
	b.UseRedis(t, func() redis.UniversalClient { return redis.NewClient(&redis.Options{Addr: rs.Addr()}) })
	b.Exec(t, `INSERT INTO t SELECT g, 'old' FROM generate_series(1, 5) g`)
	ctl := redis.NewClient(&redis.Options{Addr: rs.Addr()})
	defer ctl.Close()
	ctl.Set(ctx, "t:99", "stale", 0) // drift the first reconcile repairs

	reg, metrics := newRegistry()
	cfg := b.Config(t)
	cfg.Metrics = metrics
	cfg.HeartbeatTimeout = 2 * time.Second
	w := b.StartWorkerWith(t, cfg)
	srv := httptest.NewServer(opsHandler(reg, w))
	defer srv.Close()

	if code, _ := httpGet(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz: %d", code)
	}
	ready := func() error {
		code, body := httpGet(t, srv.URL+"/readyz")
		if code != http.StatusOK || !strings.Contains(body, "active") {
			return fmt.Errorf("/readyz: %d %s", code, body)
		}
		return nil
	}
	testenv.Eventually(t, 20*time.Second, ready)
	b.Exec(t, `INSERT INTO t SELECT g, 'new' FROM generate_series(6, 10) g`)
	b.Exec(t, `UPDATE t SET v = 'upd' WHERE id <= 3`)
	b.Exec(t, `DELETE FROM t WHERE id = 10`)
	b.WaitMirror(t, 20*time.Second)

	testenv.Eventually(t, 20*time.Second, func() error {
		fams := scrape(t, srv.URL)
		checks := []struct {
			name   string
			labels map[string]string
			min    float64
		}{
			{"pgredis_changes_applied_total", map[string]string{"table": "public.t", "op": "set"}, 8},
			{"pgredis_changes_applied_total", map[string]string{"table": "public.t", "op": "delete"}, 1},
			{"pgredis_lag_seconds", nil, 3},
			{"pgredis_batch_size", nil, 1},
			{"pgredis_reconcile_runs_total", map[string]string{"table": "public.t", "result": "ok"}, 1},
			{"pgredis_reconcile_keys_total", map[string]string{"table": "public.t", "action": "written"}, 5},
			{"pgredis_reconcile_keys_total", map[string]string{"table": "public.t", "action": "deleted"}, 1},
			{"pgredis_worker_active", nil, 1},
			{"pgredis_connection_up", map[string]string{"store": "postgres"}, 1},
			{"pgredis_connection_up", map[string]string{"store": "redis"}, 1},
			{"pgredis_heartbeats_sent_total", nil, 1},
			{"pgredis_notification_queue_usage_ratio", nil, 0},
		}
		for _, c := range checks {
			if v := metricValue(fams, c.name, c.labels); v < c.min {
				return fmt.Errorf("%s%v = %v, want >= %v", c.name, c.labels, v, c.min)
			}
		}
		return nil
	})

	// Stall: Redis still answers PING but holds every write.
	if err := ctl.Do(ctx, "CLIENT", "PAUSE", "60000", "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	b.Exec(t, `INSERT INTO t VALUES (11, 'during the stall')`)
	testenv.Eventually(t, 20*time.Second, func() error {
		if code, _ := httpGet(t, srv.URL+"/readyz"); code != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz still %d", code)
		}
		return nil
	})
	// Within the bound, plus one heartbeat interval and the probe's slack.
	if took := time.Since(paused); took > cfg.HeartbeatTimeout+2*time.Second {
		t.Errorf("/readyz turned unready after %s, bound %s", took, cfg.HeartbeatTimeout)
	}
	if code, body := httpGet(t, srv.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz while stalled: %d %s", code, body)
	}
	if err := ctl.Do(ctx, "CLIENT", "UNPAUSE").Err(); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 30*time.Second, ready)
	b.WaitMirror(t, 20*time.Second)

	// Every metric the shipped dashboard queries is one this worker
	// exported (the stall above produced the error counts too).
	checkDashboard(t, reg, "../../deploy/grafana/pgredis.json")
}
