package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// Health is what the worker knows about itself, for readiness probes.
type Health struct {
	// Probed is false until the first probe of both stores finished.
	Probed     bool
	Active     bool
	PostgresUp bool
	RedisUp    bool
	// PostgresErr and RedisErr are the last probe failures.
	PostgresErr string
	RedisErr    string
	// ActiveSince is when the monitor first saw this tenure active.
	ActiveSince time.Time
	// LastBeat is when the active worker's last heartbeat came back
	// through LISTEN and was applied in order with the changes around it.
	LastBeat time.Time
	Stopped  bool
	// Unfit maps a table that no longer fits its installed spec (a column
	// dropped or renamed since migrate up) to the reason.
	Unfit map[string]string
	// Quarantined maps a table the active worker cannot mirror now (its
	// last reconcile failed on the table's own trouble) to the reason;
	// the other tables stay live.
	Quarantined map[string]string
}

// monitor probes both stores and, while the worker is active, sends
// heartbeats through the whole pipeline: a NOTIFY on the change channel
// from the pool, which the apply loop handles in order (after flushing
// the changes before it, writing the status key through the fenced
// store) and records. A worker connected to both stores but no longer
// applying (Redis stuck, the apply loop blocked) stops recording beats,
// which readiness turns into a failure.
type monitor struct {
	id        string
	done      chan struct{}
	shapeNext time.Time
	capture   captureState

	mu sync.Mutex
	h  Health
}

func (w *Worker) startMonitor(ctx context.Context, runDone <-chan struct{}) {
	w.mon.id = newToken()
	w.mon.done = make(chan struct{})
	go func() {
		defer close(w.mon.done)
		w.monitorLoop(ctx, runDone)
	}()
}

func (w *Worker) waitMonitor() {
	if w.mon.done != nil {
		<-w.mon.done
	}
}

func (w *Worker) monitorLoop(ctx context.Context, runDone <-chan struct{}) {
	tick := time.NewTicker(w.cfg.HeartbeatInterval)
	defer tick.Stop()
	for {
		w.probe(ctx)
		select {
		case <-ctx.Done():
			return
		case <-runDone:
			return
		case <-tick.C:
		}
	}
}

func (w *Worker) probe(ctx context.Context) {
	timeout := max(w.cfg.HeartbeatInterval, 2*time.Second)
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	active := w.Active()
	var queue float64
	pgErr := w.pool.QueryRow(pctx, "SELECT pg_notification_queue_usage()").Scan(&queue)
	if pgErr == nil && active {
		sent := time.Now()
		beat := beatControl(w.mon.id, sent)
		if _, pgErr = w.pool.Exec(pctx, "SELECT pg_notify($1, $2)", notify.Channel, beat.Encode()); pgErr == nil {
			w.cfg.Metrics.beatSent(sent)
		}
	}
	redisErr := w.cfg.Redis.Ping(pctx).Err()
	var unfit map[string]string
	shapeChecked := false
	if pgErr == nil && time.Now().After(w.mon.shapeNext) {
		unfit, shapeChecked = w.unfitTables(pctx), true
		// The catalog is read every tenth probe: shapes change rarely.
		w.mon.shapeNext = time.Now().Add(10 * w.cfg.HeartbeatInterval)
	}
	if ctx.Err() != nil {
		return
	}
	w.mon.mu.Lock()
	h := &w.mon.h
	if shapeChecked {
		w.logUnfit(h.Unfit, unfit)
		h.Unfit = unfit
	}
	h.Probed = true
	h.PostgresUp, h.PostgresErr = pgErr == nil, errString(pgErr)
	h.RedisUp, h.RedisErr = redisErr == nil, errString(redisErr)
	if active && !h.Active {
		h.ActiveSince = time.Now()
	}
	h.Active = active
	snap := *h
	w.mon.mu.Unlock()
	w.cfg.Metrics.probed(snap, queue, pgErr == nil)
}

// unfitTables checks every configured table is still installed (its
// registry entry and triggers there: migrate down, or a trigger dropped by
// hand, leave a worker that mirrors nothing) and renders as installed.
func (w *Worker) unfitTables(ctx context.Context) map[string]string {
	installed, err := notify.LoadInstalled(ctx, w.pool)
	if err != nil {
		return nil
	}
	byName := map[string]notify.Installed{}
	for _, in := range installed {
		byName[in.Table.ID()] = in
	}
	unfit := map[string]string{}
	for _, st := range w.cfg.Tables {
		in, ok := byName[st.ID()]
		if !ok {
			unfit[st.String()] = "its pgredis trigger and registry entry are gone (pgredis migrate down ran, or the pgredis schema was dropped), so its changes are not mirrored"
			continue
		}
		if n, err := notify.TriggersInstalled(ctx, w.pool, st); err == nil && n < len(notify.TriggerNames()) {
			unfit[st.String()] = fmt.Sprintf("%d of its %d pgredis triggers are missing (dropped by hand?), so some of its changes are not mirrored", len(notify.TriggerNames())-n, len(notify.TriggerNames()))
			continue
		}
		if _, err := notify.Resolve(ctx, w.pool, []spec.Table{in.Table}, ""); err != nil {
			unfit[st.String()] = err.Error()
		}
	}
	w.checkCapture(ctx, installed, unfit)
	return unfit
}

// logUnfit logs each table that newly stopped fitting, once.
func (w *Worker) logUnfit(before, now map[string]string) {
	for _, name := range slices.Sorted(maps.Keys(now)) {
		if before[name] != now[name] {
			w.cfg.Logger.Error("table cannot be mirrored as installed; run pgredis migrate up with a fitting PGREDIS_TABLES", "table", name, "reason", now[name])
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Health reports the worker's last probe and heartbeat.
func (w *Worker) Health() Health {
	w.mon.mu.Lock()
	h := w.mon.h
	w.mon.mu.Unlock()
	h.Active = w.Active()
	select {
	case <-w.done:
		h.Stopped = true
	default:
	}
	return h
}

// Ready says why the worker is not ready, or nil: it must be connected to
// both stores and, when active, have applied a heartbeat within
// HeartbeatTimeout (counted from when it became active, so the initial
// reconcile has that long). A healthy standby is ready.
func (w *Worker) Ready() error {
	h := w.Health()
	switch {
	case h.Stopped:
		return errors.New("worker stopped")
	case !h.Probed:
		return errors.New("worker starting")
	case !h.PostgresUp:
		return fmt.Errorf("PostgreSQL unreachable: %s", h.PostgresErr)
	case !h.RedisUp:
		return fmt.Errorf("redis unreachable: %s", h.RedisErr)
	}
	if unfit := slices.Sorted(maps.Keys(h.Unfit)); len(unfit) > 0 {
		return fmt.Errorf("table %s no longer fits its spec (%s): run pgredis migrate up with a fitting PGREDIS_TABLES", unfit[0], h.Unfit[unfit[0]])
	}
	if q := slices.Sorted(maps.Keys(h.Quarantined)); len(q) > 0 {
		return fmt.Errorf("table %s is quarantined, the other tables are live: %s", q[0], h.Quarantined[q[0]])
	}
	if !h.Active {
		return nil
	}
	base := h.ActiveSince
	if h.LastBeat.After(base) {
		base = h.LastBeat
	}
	if since := time.Since(base); !base.IsZero() && since > w.cfg.HeartbeatTimeout {
		return fmt.Errorf("active but no heartbeat applied for %s (the apply loop is stalled or Redis refuses writes)", since.Round(time.Millisecond))
	}
	return nil
}

// Status is the JSON the active worker keeps at <prefix>status for
// pgredis status.
type Status struct {
	Worker string `json:"worker"`
	Host   string `json:"host"`
	PID    int    `json:"pid"`
	// BeatAt is when the active worker last wrote this key.
	BeatAt time.Time `json:"beat_at"`
	// LastChangeAt is the trigger time of the newest change applied,
	// LastAppliedAt when it was applied; their difference is the lag.
	LastChangeAt  time.Time `json:"last_change_at,omitzero"`
	LastAppliedAt time.Time `json:"last_applied_at,omitzero"`
	LagSeconds    float64   `json:"lag_seconds"`
	// Quarantined maps a table the worker cannot mirror now to the reason.
	Quarantined map[string]string `json:"quarantined,omitempty"`
}

// StatusKey is where the active worker keeps its Status.
func StatusKey(prefix string) string { return prefix + "status" }

// setQuarantined publishes the active worker's quarantined tables.
func (w *Worker) setQuarantined(q map[string]string) {
	w.mon.mu.Lock()
	w.mon.h.Quarantined = q
	w.mon.mu.Unlock()
}

// recordBeat handles a heartbeat that came back through LISTEN: the
// changes before it are flushed, so writing the status key through the
// fenced store proves Redis takes this worker's writes now.
func (w *Worker) recordBeat(ctx context.Context, st mirror, log *appliedLog, c *notify.Control) {
	if w.mon.id == "" || c.ID != w.mon.id {
		return
	}
	now := time.Now()
	host, _ := os.Hostname()
	stat := Status{Worker: w.cfg.ApplicationName, Host: host, PID: os.Getpid(), BeatAt: now.UTC(),
		LastChangeAt: log.last.UTC(), LastAppliedAt: log.lastAt.UTC()}
	if !log.last.IsZero() {
		stat.LagSeconds = log.lastAt.Sub(log.last).Seconds()
	}
	w.mon.mu.Lock()
	stat.Quarantined = w.mon.h.Quarantined
	w.mon.mu.Unlock()
	b, _ := json.Marshal(stat)
	// A failed write leaves the beat unrecorded, which readiness reports;
	// the apply path's own writes raise the failure (with the table they
	// were for), so the status key never decides the worker's mode.
	if err := st.apply(ctx, []write{{key: StatusKey(w.cfg.StatePrefix), value: string(b)}}); err != nil {
		w.cfg.Logger.Debug("heartbeat not applied", "error", err)
		return
	}
	w.mon.mu.Lock()
	w.mon.h.LastBeat = now
	w.mon.mu.Unlock()
	w.cfg.Metrics.beatApplied(c, now)
}
