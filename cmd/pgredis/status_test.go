package main

import (
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

// TestStatus runs a real worker and reads pgredis status back, as text
// and as JSON: triggers and specs, keys per table counted in Redis,
// the active worker's host and pid, and the last applied change's time
// and lag from the status key the worker keeps.
func TestStatus(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := pgredistest.New(t, `CREATE TABLE t (id int PRIMARY KEY, v text); CREATE TABLE u (id int PRIMARY KEY)`, "t; u key=u:{id}:v format=hash")
	e := &env{DatabaseURL: b.DatabaseURL, RedisURL: b.RedisURL, StatePrefix: pgredistest.StatePrefix,
		Tables: "t; u key=u:{id}:v format=hash; missing_table"}

	var out bytes.Buffer
	if err := writeStatus(ctx, e, false, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "worker: none active") {
		t.Fatalf("status before a worker ran:\n%s", out.String())
	}

	cfg := b.Config(t)
	cfg.ApplicationName = "pgredis worker testhost pid 4242"
	w := b.StartWorkerWith(t, cfg)
	// Changes must arrive as notifications, not through the first reconcile.
	testenv.Eventually(t, 20*time.Second, func() error {
		if !w.Active() {
			return fmt.Errorf("worker not active yet")
		}
		return nil
	})
	b.Exec(t, `INSERT INTO t SELECT g, 'x' FROM generate_series(1, 7) g`)
	b.Exec(t, `INSERT INTO u SELECT g FROM generate_series(1, 3) g`)
	b.WaitMirror(t, 20*time.Second)
	// Keys status must not count: another table's, a state key, a stranger.
	b.Redis.Set(ctx, "stranger", "1", 0)
	b.Redis.Set(ctx, "u:9:w", "1", 0)

	var rep statusReport
	testenv.Eventually(t, 20*time.Second, func() error {
		var js bytes.Buffer
		if err := writeStatus(ctx, e, true, &js); err != nil {
			return err
		}
		rep = statusReport{}
		if err := json.Unmarshal(js.Bytes(), &rep); err != nil {
			return fmt.Errorf("status --json is not JSON: %v\n%s", err, js.String())
		}
		if rep.Worker.LastChangeAt == nil {
			return fmt.Errorf("no last change yet: %s", js.String())
		}
		return nil
	})
	want := map[string]struct {
		trigger string
		keys    int64
	}{"public.t": {"installed", 7}, "public.u": {"installed", 3}, "public.missing_table": {"missing", -1}}
	if len(rep.Tables) != len(want) {
		t.Fatalf("tables %+v", rep.Tables)
	}
	for _, ts := range rep.Tables {
		w := want[ts.Table]
		if ts.Trigger != w.trigger {
			t.Errorf("%s: trigger %q, want %q", ts.Table, ts.Trigger, w.trigger)
		}
		if w.keys >= 0 && (ts.Keys == nil || *ts.Keys != w.keys) {
			t.Errorf("%s: keys %v, want %d", ts.Table, ts.Keys, w.keys)
		}
	}
	ws := rep.Worker
	if !ws.Active || ws.Host != "testhost" || ws.PID != 4242 || ws.BackendPID == 0 {
		t.Errorf("worker %+v", ws)
	}
	if age := time.Since(*ws.LastChangeAt); age < 0 || age > time.Minute {
		t.Errorf("last change at %s", ws.LastChangeAt)
	}
	if ws.LagSeconds == nil || *ws.LagSeconds < 0 || *ws.LagSeconds > 30 {
		t.Errorf("lag %v", ws.LagSeconds)
	}

	out.Reset()
	if err := writeStatus(ctx, e, false, &out); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		"table public.t: trigger installed (key=t:{id} format=json), 7 keys in Redis",
		"table public.u: trigger installed (key=u:{id}:v format=hash), 3 keys in Redis",
		"table public.missing_table: trigger NOT installed",
		"worker: active (host testhost pid 4242",
		"last change: committed ",
		"last heartbeat: ",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("status lacks %q:\n%s", s, out.String())
		}
	}
}
