package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// dashboardExprs returns every PromQL expression of the Grafana dashboard:
// panel targets and template variable queries.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s is not JSON: %v", path, err)
	}
	var out []string
	var walk func(v any, key string)
	walk = func(v any, key string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				walk(c, k)
			}
		case []any:
			for _, c := range v {
				walk(c, key)
			}
		case string:
			if key == "expr" || (key == "query" && strings.Contains(v, "(")) {
				out = append(out, v)
			}
		}
	}
	walk(doc, "")
	return out
}

var (
	promStrings   = regexp.MustCompile(`"[^"]*"`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords  = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset", "le"}
	histoSuffixes = []string{"_bucket", "_sum", "_count"}
)

// promMetricNames extracts the metric names an expression selects: what
// is left once strings, label matchers, ranges, grouping clauses and
// function calls are taken out.
func promMetricNames(expr string) []string {
	// Grafana's label_values(metric, label) names a label second.
	if rest, ok := strings.CutPrefix(strings.TrimSpace(expr), "label_values("); ok {
		expr, _, _ = strings.Cut(rest, ",")
	}
	s := promStrings.ReplaceAllString(expr, " ")
	s = promMatchers.ReplaceAllString(s, " ")
	s = promRanges.ReplaceAllString(s, " ")
	s = promGrouping.ReplaceAllString(s, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(s, -1) {
		id := s[loc[0]:loc[1]]
		rest := strings.TrimLeft(s[loc[1]:], " ")
		if strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, id) {
			continue // a function or an aggregation
		}
		names = append(names, id)
	}
	return names
}

// checkDashboard fails for every metric the dashboard queries that the
// registry (gathered after a worker ran) does not export.
func checkDashboard(t *testing.T, reg prometheus.Gatherer, path string) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
		if f.GetType().String() == "HISTOGRAM" {
			for _, s := range histoSuffixes {
				exported[f.GetName()+s] = true
			}
		}
	}
	exprs := dashboardExprs(t, path)
	if len(exprs) < 8 {
		t.Fatalf("%s: found only %d queries", path, len(exprs))
	}
	var used int
	for _, e := range exprs {
		names := promMetricNames(e)
		if len(names) == 0 {
			t.Errorf("%s: query %q selects no metric", path, e)
		}
		for _, n := range names {
			used++
			if !exported[n] {
				t.Errorf("%s: query %q uses %s, which the worker does not export", path, e, n)
			}
		}
	}
	t.Logf("%s: %d queries, %d metric references checked", path, len(exprs), used)
}

func TestPromMetricNames(t *testing.T) {
	t.Parallel()
	got := promMetricNames(`histogram_quantile(0.99, sum by (le) (rate(pgredis_lag_seconds_bucket{job=~"$job"}[$__rate_interval]))) / time() - max(pgredis_x)`)
	got = append(got, promMetricNames(`label_values(pgredis_y{a="b"}, job)`)...)
	if want := []string{"pgredis_lag_seconds_bucket", "pgredis_x", "pgredis_y"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

// TestDashboardQueries: a count of standbys shows 0 rather than "No
// data" when there is none, and no panel plots the time since the last
// applied change as a lag (it starts near 1.8e9 on a fresh worker and
// grows forever while idle); the lag panel uses the heartbeat's.
func TestDashboardQueries(t *testing.T) {
	t.Parallel()
	exprs := dashboardExprs(t, "../../deploy/grafana/pgredis.json")
	var pipeline bool
	for _, e := range exprs {
		if strings.HasPrefix(e, "count(") && !strings.Contains(e, "or vector(0)") {
			t.Errorf("query %q shows No data when nothing matches: add or vector(0)", e)
		}
		if strings.Contains(e, "pgredis_last_applied_timestamp_seconds") {
			t.Errorf("query %q measures time since the last change, not lag", e)
		}
		pipeline = pipeline || strings.Contains(e, "pgredis_pipeline_lag_seconds")
	}
	if !pipeline {
		t.Error("no panel plots pgredis_pipeline_lag_seconds")
	}
}
