package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"
)

const rulesDir = "../../deploy/prometheus"

// TestPrometheusRules runs promtool on the shipped alert rules: they
// parse (check rules) and fire, or stay quiet, on the series of their
// unit tests (test rules). CI must have promtool (Debian package
// prometheus): there a missing promtool fails instead of skipping.
func TestPrometheusRules(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs promtool")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is missing: install the Debian package prometheus")
		}
		t.Skip("promtool not installed (Debian package prometheus)")
	}
	for _, args := range [][]string{{"check", "rules", "pgredis.rules.yml"}, {"test", "rules", "pgredis.rules.test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = rulesDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// ruleExprs returns the PromQL expression of every rule in a rules file.
func ruleExprs(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct {
				Expr string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out []string
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out = append(out, r.Expr)
		}
	}
	return out
}

// checkRuleMetrics fails for every metric an alert rule uses that the
// registry (gathered from a worker that ran) does not export.
func checkRuleMetrics(t *testing.T, reg prometheus.Gatherer, path string) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range fams {
		exported[f.GetName()] = true
	}
	exprs := ruleExprs(t, path)
	if len(exprs) < 5 {
		t.Fatalf("%s: only %d rules", filepath.Base(path), len(exprs))
	}
	for _, e := range exprs {
		for _, n := range promMetricNames(e) {
			if !exported[n] {
				t.Errorf("%s: rule %q uses %s, which the worker does not export", filepath.Base(path), e, n)
			}
		}
	}
}
