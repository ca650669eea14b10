package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/worker"
)

// resyncLoop runs worker.Resync from n goroutines (overlapping cron jobs)
// until d has passed, and returns how many completed.
func resyncLoop(t *testing.T, cfg worker.Config, n int, d time.Duration) int {
	t.Helper()
	return resyncLoopChecked(t, cfg, n, d, func() map[string]int { return nil }, func(map[string]int) {})
}

// resyncLoopChecked is resyncLoop with a check after each resync of what
// before returned just before it.
func resyncLoopChecked(t *testing.T, cfg worker.Config, n int, d time.Duration, before func() map[string]int, after func(map[string]int)) int {
	t.Helper()
	var mu sync.Mutex
	var done int
	var errs []error
	var wg sync.WaitGroup
	deadline := time.Now().Add(d)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				floor := before()
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				reports, err := worker.Resync(ctx, cfg, nil, false, nil)
				cancel()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if len(reports) != 1 || reports[0].Error != "" {
					errs = append(errs, fmt.Errorf("reports %+v", reports))
				} else {
					done++
				}
				mu.Unlock()
				if err == nil {
					after(floor)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("resync failed: %v", errs)
	}
	return done
}

// Fault 5: resync runs in a loop, several at once, while a worker applies
// a writer's changes. Afterwards the mirror is exact with nothing more
// than the worker's own draining: no resync left an older value behind.
func TestFaultResyncUnderLoad(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	b.StartWorker(t)
	b.WaitMirror(t, 30*time.Second)
	w := startWriter(t, b)
	n := resyncLoop(t, b.Config(t), 3, 3*time.Second)
	t.Logf("%d resyncs completed under the writer", n)
	if n < 3 {
		t.Fatalf("only %d resyncs completed", n)
	}
	measured(t, "fault 5: convergence after writes stop (no further resync)", convergeTime(t, b, w))
}

// Fault 5 without a worker: resync takes the lock itself, reconciles, and
// applies what committed meanwhile, so a key never ends older than its row
// was when the resync began; overlapping resyncs are safe. The writer here
// only increments v, so "older" is "smaller".
func TestFaultResyncWithoutWorker(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, faultDDL, faultTables)
	cfg := b.Config(t)
	ctx, cancel := context.WithCancel(context.Background())
	bumped := make(chan struct{})
	go func() {
		defer close(bumped)
		for i := 0; ctx.Err() == nil; i++ {
			b.PG.Exec(ctx, `UPDATE acct SET v = v + 1 WHERE id % 7 = $1`, i%7)
			b.PG.Exec(ctx, `UPDATE acct SET v = v + 1 WHERE id = $1`, 1+i%200)
		}
	}()
	defer func() { cancel(); <-bumped }()
	floor := func() map[string]int {
		rows, err := b.PG.Query(context.Background(), `SELECT 'acct:' || id, v FROM acct`)
		if err != nil {
			t.Error(err)
			return nil
		}
		defer rows.Close()
		m := map[string]int{}
		for rows.Next() {
			var k string
			var v int
			if err := rows.Scan(&k, &v); err != nil {
				t.Error(err)
			}
			m[k] = v
		}
		return m
	}
	var mu sync.Mutex
	var behind []string
	n := resyncLoopChecked(t, cfg, 3, 3*time.Second, floor, func(before map[string]int) {
		for k, v := range before {
			s, err := b.Redis.Get(context.Background(), k).Result()
			var doc struct{ V int }
			if err == nil {
				err = json.Unmarshal([]byte(s), &doc)
			}
			mu.Lock()
			if err != nil {
				behind = append(behind, fmt.Sprintf("%s: %v", k, err))
			} else if doc.V < v {
				behind = append(behind, fmt.Sprintf("%s: v=%d in Redis, %d in the table before the resync", k, doc.V, v))
			}
			mu.Unlock()
		}
	})
	t.Logf("%d resyncs completed under the writer", n)
	if len(behind) > 0 {
		t.Fatalf("keys older than the table after a resync: %v", behind[:min(len(behind), 10)])
	}
	cancel()
	<-bumped
	if _, err := worker.Resync(context.Background(), cfg, nil, false, nil); err != nil {
		t.Fatal(err)
	}
	b.RequireMirror(t)
}
