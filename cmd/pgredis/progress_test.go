package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
)

// progressLines returns the resync progress records of a JSON log.
func progressLines(t *testing.T, log string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		if rec["msg"] == "resync progress" {
			out = append(out, rec)
		}
	}
	return out
}

// TestResyncProgressLogs: a resync of a large table, with stderr not a
// terminal, logs rows done / total, rate and ETA periodically, both when
// it reconciles itself and when the active worker does it for it.
func TestResyncProgressLogs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const rows = 5000
	b := pgredistest.New(t, `CREATE TABLE big (id int PRIMARY KEY, v text)`, "big")
	b.Exec(t, fmt.Sprintf(`INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g; ANALYZE big`, rows))
	e := &env{DatabaseURL: b.DatabaseURL, RedisURL: b.RedisURL, StatePrefix: pgredistest.StatePrefix, Tables: b.Tables,
		LogFormat: "json", LogLevel: "info", ProgressInterval: time.Millisecond}

	check := func(stderr string) {
		t.Helper()
		lines := progressLines(t, stderr)
		if len(lines) < 2 {
			t.Fatalf("want periodic progress lines, got %d:\n%s", len(lines), stderr)
		}
		var last float64
		for _, l := range lines {
			done, _ := l["rows_done"].(float64)
			if l["table"] != "public.big" || l["rows_total"] != float64(rows) || done <= last || done > rows ||
				l["rows_per_second"] == nil {
				t.Fatalf("bad progress line %v", l)
			}
			if _, ok := l["eta_seconds"].(float64); !ok {
				t.Fatalf("progress line without a numeric eta_seconds: %v", l)
			}
			last = done
		}
		if strings.Contains(stderr, "\r") {
			t.Errorf("terminal control characters in a non-terminal log:\n%q", stderr)
		}
	}

	// No worker: resync reconciles itself.
	var stdout, stderr bytes.Buffer
	if err := resync(ctx, e, nil, false, &stdout, &stderr, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout.String(), fmt.Sprintf("public.big: rows scanned %d, keys written %d", rows, rows)) {
		t.Fatalf("report %q", stdout.String())
	}
	check(stderr.String())

	// An active worker reconciles for resync and relays its progress.
	cfg := b.Config(t)
	cfg.ProgressInterval = time.Millisecond
	w := b.StartWorkerWith(t, cfg)
	testenv.Eventually(t, 20*time.Second, func() error {
		if !w.Active() {
			return fmt.Errorf("worker not active")
		}
		return nil
	})
	b.Exec(t, `UPDATE big SET v = 'changed' WHERE id % 1000 = 0`)
	b.Redis.Del(ctx, "big:7")
	stdout.Reset()
	stderr.Reset()
	if err := resync(ctx, e, []string{"big"}, false, &stdout, &stderr, false); err != nil {
		t.Fatal(err)
	}
	check(stderr.String())
	b.WaitMirror(t, 20*time.Second)
}
