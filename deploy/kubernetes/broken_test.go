package kubernetes

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// breakage is one mistake made to a copy of the base, and the words
// the check's complaint must contain.
type breakage struct {
	name, file, old, new, want string
}

var breakages = []breakage{
	{"readiness path not served", "worker-deployment.yaml", "path: /readyz", "path: /ready", "readinessProbe path /ready is not served"},
	{"liveness on readiness", "worker-deployment.yaml", "livenessProbe:\n            httpGet:\n              path: /healthz", "livenessProbe:\n            httpGet:\n              path: /readyz", "livenessProbe on /readyz, the readiness endpoint"},
	{"readiness on healthz", "worker-deployment.yaml", "path: /readyz", "path: /healthz", "does not answer by the worker's readiness"},
	{"probe port unnamed", "worker-deployment.yaml", "port: http\n            periodSeconds: 5", "port: metrics\n            periodSeconds: 5", `readinessProbe port "metrics" names no containerPort`},
	{"probe port wrong", "worker-deployment.yaml", "port: http\n            periodSeconds: 10", "port: 8080\n            periodSeconds: 10", "livenessProbe port 8080, but PGREDIS_HTTP_ADDR=:9187"},
	{"http addr moved", "configmap.yaml", `":9187"`, `":9188"`, "no containerPort 9188"},
	{"no http addr", "configmap.yaml", `  PGREDIS_HTTP_ADDR: ":9187"`, ``, "the worker serves no probes"},
	{"scrape port", "worker-deployment.yaml", `prometheus.io/port: "9187"`, `prometheus.io/port: "9090"`, "prometheus.io/port"},
	{"unknown field", "worker-deployment.yaml", "periodSeconds: 5", "periodSecond: 5", `unknown field "spec.template.spec.containers[0].readinessProbe.periodSecond"`},
	{"duplicated field", "worker-deployment.yaml", "replicas: 2", "replicas: 2\n  replicas: 3", `key "replicas" already set in map`},
	{"unchecked kind", "serviceaccount.yaml", "ServiceAccount\nmetadata:\n  name: pgredis\n  labels:\n    app.kubernetes.io/name: pgredis\nautomountServiceAccountToken: false\n", "Service\nmetadata:\n  name: pgredis\n", "v1 Service is a kind this test does not check yet"},
	{"unknown kustomization field", "kustomization.yaml", "images:", "image:", `unknown field "image"`},
	{"wrong api version", "resync-cronjob.yaml", "apiVersion: batch/v1", "apiVersion: batch/v1beta1", `no kind "CronJob" is registered for version "batch/v1beta1"`},
	{"wrong user", "migrate-job.yaml", "runAsUser: 65532", "runAsUser: 1000", "runAsUser 1000, want the Dockerfile's USER uid 65532"},
	{"wrong group", "resync-cronjob.yaml", "runAsGroup: 65532", "runAsGroup: 0", "runAsGroup 0"},
	{"writable root", "worker-deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "readOnlyRootFilesystem is not true"},
	{"escalation", "migrate-job.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true", "allowPrivilegeEscalation is not false"},
	{"capabilities kept", "resync-cronjob.yaml", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "capabilities do not drop ALL"},
	{"no seccomp", "worker-deployment.yaml", "type: RuntimeDefault", "type: Unconfined", "seccompProfile is not RuntimeDefault"},
	{"env typo", "configmap.yaml", "PGREDIS_LOG_LEVEL:", "PGREDIS_LOGLEVEL:", "sets PGREDIS_LOGLEVEL, which pgredis's configuration does not read"},
	{"secret key typo", "secret.yaml", "  REDIS_URL:", "  REDIS_ULR:", "Secret pgredis-secret: REDIS_ULR is not a variable"},
	{"test variable", "configmap.yaml", `  PGREDIS_LOG_LEVEL: "info"`, `  PGREDIS_LOG_LEVEL: "info"` + "\n  PGREDIS_TEST_CAPTURE_ALTERNATE: 1s", "a variable for pgredis's own test suite"},
	{"no database url", "resync-cronjob.yaml", "                - secretRef:\n                    name: pgredis-secret\n", "", "pgredis resync needs DATABASE_URL"},
	{"no tables", "configmap.yaml", `  PGREDIS_TABLES: "products"`, `  PGREDIS_TABLES: ""`, "pgredis migrate up needs PGREDIS_TABLES"},
	{"missing secret", "worker-deployment.yaml", "name: pgredis-secret", "name: pgredis-secrets", "envFrom Secret pgredis-secrets is not in the base"},
	{"no subcommand", "resync-cronjob.yaml", `args: ["resync"]`, `args: ["reysnc"]`, `args ["reysnc"] run no pgredis command`},
	{"migrate typo", "migrate-job.yaml", `args: ["migrate", "up"]`, `args: ["migrate", "upp"]`, `args ["migrate" "upp"] run no pgredis command`},
	{"command override", "migrate-job.yaml", `args: ["migrate", "up"]`, `command: ["pgredis"]` + "\n          args: [\"migrate\", \"up\"]", "sets command [pgredis]"},
	{"overlapping resyncs", "resync-cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", `concurrencyPolicy "Allow", want Forbid`},
	{"no starting deadline", "resync-cronjob.yaml", "  startingDeadlineSeconds: 3600\n", "", "no startingDeadlineSeconds"},
	{"no deadline", "migrate-job.yaml", "  activeDeadlineSeconds: 600\n", "", "no activeDeadlineSeconds"},
	{"one replica", "worker-deployment.yaml", "replicas: 2", "replicas: 1", "replicas 1, want 2"},
	{"short grace", "worker-deployment.yaml", "terminationGracePeriodSeconds: 10", "terminationGracePeriodSeconds: 4", "terminationGracePeriodSeconds 4, below the worker's stop bound 5s"},
	{"longer stop timeout", "configmap.yaml", `  PGREDIS_LOG_LEVEL: "info"`, `  PGREDIS_LOG_LEVEL: "info"` + "\n  PGREDIS_STOP_TIMEOUT: 20s", "terminationGracePeriodSeconds 10, below the worker's stop bound 21s"},
	{"pdb blocks drains", "worker-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 0", "lets 0 of 2 ready workers go at once"},
	{"pdb lets both go", "worker-pdb.yaml", "maxUnavailable: 1", "maxUnavailable: 100%", "lets 2 of 2 ready workers go at once"},
	{"pdb selects nothing", "worker-pdb.yaml", "app.kubernetes.io/component: worker\n", "app.kubernetes.io/component: workers\n", "want one PodDisruptionBudget selecting its pods, have 0"},
	{"no limits", "resync-cronjob.yaml", "                limits:\n                  cpu: \"1\"\n                  memory: 512Mi\n", "", "needs both a cpu request and a cpu limit"},
	{"image", "worker-deployment.yaml", "image: pgredis", "image: pgredis-worker", `image "pgredis-worker" is not the one`},
	{"real secret", "secret.yaml", "CHANGE-ME@redis", "hunter2@redis", "REDIS_URL is not marked as a placeholder"},
	{"file not listed", "kustomization.yaml", "  - worker-pdb.yaml\n", "", "worker-pdb.yaml is not listed"},
	{"listed but missing", "kustomization.yaml", "  - resync-cronjob.yaml\n", "  - resync-cronjob.yaml\n  - extra.yaml\n", "kustomization.yaml lists extra.yaml: open"},
}

// TestBrokenBase makes each mistake once, to a copy of the base, and
// expects the check to name it: every check can fail.
func TestBrokenBase(t *testing.T) {
	t.Parallel()
	c, err := readCode()
	if err != nil {
		t.Fatal(err)
	}
	for _, bk := range breakages {
		t.Run(bk.name, func(t *testing.T) {
			t.Parallel()
			dir := copyBase(t)
			path := filepath.Join(dir, bk.file)
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(raw), bk.old) {
				t.Fatalf("%s no longer contains %q: update this breakage", bk.file, bk.old)
			}
			if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(raw), bk.old, bk.new)), 0o644); err != nil {
				t.Fatal(err)
			}
			var got []string
			if b, err := loadBase(dir); err != nil {
				got = []string{err.Error()}
			} else {
				got = checkBase(b, c)
			}
			for _, g := range got {
				if strings.Contains(g, bk.want) {
					return
				}
			}
			t.Errorf("want a problem containing %q, got %d:\n%s", bk.want, len(got), strings.Join(got, "\n"))
		})
	}
}

// TestBrokenCode changes a fact read from the code, as a change to
// pgredis would, and expects the unchanged base to be refused.
func TestBrokenCode(t *testing.T) {
	t.Parallel()
	b, err := loadBase(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*code)
		want string
	}{
		{"readyz route removed", func(c *code) { delete(c.routes, "/readyz") }, "readinessProbe path /readyz is not served"},
		{"variable dropped", func(c *code) { delete(c.envVars, "PGREDIS_LOG_LEVEL") }, "sets PGREDIS_LOG_LEVEL, which pgredis's configuration does not read"},
		{"image user changed", func(c *code) { c.user = 10001 }, "want the Dockerfile's USER uid 10001"},
		{"stop slower", func(c *code) { c.stopTimeout = 30_000_000_000 }, "below the worker's stop bound 31s"},
		{"resync renamed", func(c *code) { delete(c.commands, "resync") }, `args ["resync"] run no pgredis command`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := readCode()
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(c)
			got := checkBase(b, c)
			for _, g := range got {
				if strings.Contains(g, tc.want) {
					return
				}
			}
			t.Errorf("want a problem containing %q, got %d:\n%s", tc.want, len(got), strings.Join(got, "\n"))
		})
	}
}

// copyBase copies the base's YAML files into a temporary directory.
func copyBase(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
