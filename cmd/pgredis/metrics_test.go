package main

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// gauge is the value of the one sample of name whose labels include
// want, or an error.
func gauge(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, error) {
next:
	for _, m := range fams[name].GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		return m.GetGauge().GetValue(), nil
	}
	return 0, fmt.Errorf("%s%v not exported", name, want)
}

// TestWorkerMetrics scrapes the real binary's /metrics through a start,
// a quiet spell, a write and a Redis outage: the build info, the
// reconcile duration per table, each table's last change and lag, the
// heartbeat-based pipeline lag (small while idle, growing while Redis is
// down, small again after), and the notifications deferred while Redis
// was down. Every metric the dashboard and the alert rules use is one it
// exported.
func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("needs PostgreSQL and redis-server")
	}
	rs := testenv.StartRedis(t)
	dbURL, vars := appDB(t)
	vars["REDIS_URL"] = rs.URL(0)
	vars["PGREDIS_TABLES"] = "users; orders key=order:{tenant}:{id}"
	vars["PGREDIS_HEARTBEAT_INTERVAL"] = "200ms"
	vars["PGREDIS_MAX_BACKOFF"] = "500ms"
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	vars["PGREDIS_HTTP_ADDR"] = addr
	base := "http://" + addr
	mustRun(t, vars, "migrate", "up")
	b := pgredistest.Open(t, dbURL, vars["REDIS_URL"], vars["PGREDIS_TABLES"])
	w := startPgredis(t, vars, "worker")
	b.WaitMirror(t, 30*time.Second)

	var fams map[string]*dto.MetricFamily
	testenv.Eventually(t, 20*time.Second, func() error {
		fams = scrape(t, base)
		if v, err := gauge(fams, "pgredis_build_info", map[string]string{"version": version, "commit": commit, "go_version": runtime.Version()}); err != nil || v != 1 {
			return fmt.Errorf("pgredis_build_info = %v, %v", v, err)
		}
		for _, table := range []string{"public.users", "public.orders"} {
			if n := metricValue(fams, "pgredis_reconcile_duration_seconds", map[string]string{"table": table}); n < 1 {
				return fmt.Errorf("pgredis_reconcile_duration_seconds{table=%s} has %v observations", table, n)
			}
		}
		// A beat came back.
		if v, err := gauge(fams, "pgredis_pipeline_lag_seconds", nil); err != nil || v <= 0 {
			return fmt.Errorf("pgredis_pipeline_lag_seconds = %v, %v", v, err)
		}
		return nil
	})

	// Idle, the lag stays what one heartbeat's round trip takes, instead
	// of growing with the time since the last change.
	for start := time.Now(); time.Since(start) < 2*time.Second; time.Sleep(200 * time.Millisecond) {
		if v, _ := gauge(scrape(t, base), "pgredis_pipeline_lag_seconds", nil); v <= 0 || v >= 1 {
			t.Fatalf("idle pipeline lag %v s, want a round trip well under a second", v)
		}
	}

	before := time.Now()
	b.Exec(t, `INSERT INTO users VALUES (100, 'new')`)
	b.WaitMirror(t, 20*time.Second)
	testenv.Eventually(t, 20*time.Second, func() error {
		fams = scrape(t, base)
		last, err := gauge(fams, "pgredis_table_last_change_timestamp_seconds", map[string]string{"table": "public.users"})
		if err != nil {
			return err
		}
		if at := time.UnixMicro(int64(last * 1e6)); at.Before(before.Add(-time.Second)) || at.After(time.Now()) {
			return fmt.Errorf("users' last change at %s, the write was at %s", at, before)
		}
		if lag, err := gauge(fams, "pgredis_table_lag_seconds", map[string]string{"table": "public.users"}); err != nil || lag < 0 || lag > 5 {
			return fmt.Errorf("pgredis_table_lag_seconds{table=public.users} = %v, %v", lag, err)
		}
		if _, err := gauge(fams, "pgredis_table_lag_seconds", map[string]string{"table": "public.orders"}); err == nil {
			return fmt.Errorf("orders has a last-change lag, but no change of it was applied")
		}
		return nil
	})

	// Redis goes away: changes are deferred to the reconcile that follows
	// its return, and no heartbeat comes back, so the lag grows.
	rs.Stop(t)
	b.Exec(t, `UPDATE users SET name = 'during the outage'`)
	testenv.Eventually(t, 30*time.Second, func() error {
		fams = scrape(t, base)
		if n := metricValue(fams, "pgredis_notifications_deferred_total", map[string]string{"reason": "redis_down"}); n < 1 {
			b.Exec(t, `UPDATE users SET name = name || '.'`)
			return fmt.Errorf("deferred while Redis is down: %v", n)
		}
		if v, _ := gauge(fams, "pgredis_pipeline_lag_seconds", nil); v < 1.5 {
			return fmt.Errorf("pipeline lag %v s while Redis is down", v)
		}
		return nil
	})
	rs.Start(t)
	b.WaitMirror(t, 30*time.Second)
	testenv.Eventually(t, 30*time.Second, func() error {
		fams = scrape(t, base)
		if v, _ := gauge(fams, "pgredis_pipeline_lag_seconds", nil); v <= 0 || v >= 1 {
			return fmt.Errorf("pipeline lag %v s after Redis came back", v)
		}
		return nil
	})

	gathered := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		var out []*dto.MetricFamily
		for _, f := range fams {
			out = append(out, f)
		}
		return out, nil
	})
	checkDashboard(t, gathered, "../../deploy/grafana/pgredis.json")
	checkRuleMetrics(t, gathered, "../../deploy/prometheus/pgredis.rules.yml")
	if err := w.stop(t); err != nil {
		t.Fatalf("worker exit: %v\n%s", err, w.stderr)
	}
}
