package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pgredis/pgredis/notify"
)

// Resync reconciles the named tables (every table when none), once.
//
// When a worker is active, Resync asks it to reconcile inside its own
// ordered apply loop and waits for its report: one writer, so no key can
// end older than the database. When none is, Resync takes the worker lock
// itself, reconciles, then applies the changes that committed meanwhile
// until a marker it sent after the reconcile comes back. Safe to run
// twice at once: the second waits for the lock or the active worker.
func Resync(ctx context.Context, cfg Config, names []string, dryRun bool, progress func(Report)) ([]Report, error) {
	w, err := New(cfg)
	if err != nil {
		return nil, err
	}
	if err := w.connect(ctx); err != nil {
		return nil, err
	}
	defer w.pool.Close()
	if _, err := w.pickNames(ctx, names); err != nil {
		return nil, err
	}
	for {
		reports, err := w.resyncSelf(ctx, names, dryRun)
		if !errors.Is(err, errLocked) {
			for _, r := range reports {
				if progress != nil {
					progress(r)
				}
			}
			return reports, err
		}
		reports, err = w.resyncViaWorker(ctx, names, dryRun, progress)
		if !errors.Is(err, errWorkerGone) {
			return reports, err
		}
	}
}

var errWorkerGone = errors.New("the active worker went away")

// resendRequest is how often a resync repeats a request the active worker
// has not acknowledged yet.
const resendRequest = time.Second

func (w *Worker) pickNames(ctx context.Context, names []string) ([]*table, error) {
	tables, err := w.loadTables(ctx, true)
	if err != nil {
		return nil, err
	}
	return pick(tables, names)
}

func (w *Worker) resyncSelf(ctx context.Context, names []string, dryRun bool) ([]Report, error) {
	o := &oneShot{names: names, dryRun: dryRun, mark: newToken()}
	err := w.tenure(ctx, o)
	return o.reports, err
}

// resyncViaWorker asks the active worker to reconcile and collects its
// reports. It gives up (errWorkerGone) when the lock becomes free before
// the worker answered, so the caller can do the work itself.
func (w *Worker) resyncViaWorker(ctx context.Context, names []string, dryRun bool, progress func(Report)) ([]Report, error) {
	sess, err := notify.Dial(ctx, w.pinned(), 64)
	if err != nil {
		return nil, err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = sess.Close(cctx)
	}()
	if err := sess.Listen(ctx, notify.ReplyChannel); err != nil {
		return nil, err
	}
	lost := sess.Go(ctx, w.cfg.IdlePing)

	// The worker to ask is the lock holder now; if another takes its place
	// before answering (it died, and a standby took over), the request may
	// be lost with it, so the holder is watched, not just the lock.
	holder, ok, err := notify.ActiveWorker(ctx, w.pool)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errWorkerGone
	}
	id := newToken()
	req := notify.Control{Kind: "resync", ID: id, DryRun: dryRun, Tables: names}
	if _, err := w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, req.Encode()); err != nil {
		return nil, fmt.Errorf("error asking the worker to resync: %w", err)
	}
	w.cfg.Logger.Debug("asked the active worker to resync", "request_id", id, "worker_backend_pid", holder.PID, "tables", strings.Join(names, ","), "dry_run", dryRun)
	var reports []Report
	poll := time.NewTicker(w.cfg.StandbyPoll)
	defer poll.Stop()
	// Until the worker acknowledges the request, silence is bounded: a
	// worker that never reads it (stalled, or busy in a long rebuild)
	// fails the resync with a reason instead of hanging a cron job. Once
	// acknowledged, the worker answers every request it took, and the
	// holder is watched in case it dies first.
	ack := time.NewTimer(w.cfg.ResyncAckTimeout)
	defer ack.Stop()
	// A worker that took the lock a moment ago may not LISTEN yet: the
	// request is sent again, same id, until acknowledged (the worker takes
	// an id once).
	resend := time.NewTicker(resendRequest)
	defer resend.Stop()
	for {
		select {
		case <-ctx.Done():
			return reports, ctx.Err()
		case <-resend.C:
			if _, err := w.pool.Exec(ctx, "SELECT pg_notify($1, $2)", notify.Channel, req.Encode()); err != nil {
				return reports, fmt.Errorf("error asking the worker to resync: %w", err)
			}
		case <-ack.C:
			return reports, fmt.Errorf("the active worker (backend pid %d) did not take the resync request within %s: see its log (a long rebuild, or Redis refusing writes) and retry", holder.PID, w.cfg.ResyncAckTimeout)
		case err := <-lost:
			return reports, err
		case <-poll.C:
			now, ok, err := notify.ActiveWorker(ctx, w.pool)
			if err != nil {
				return reports, err
			}
			if !ok || now.PID != holder.PID {
				return nil, errWorkerGone
			}
		case p := <-sess.Payloads():
			rid, body, _ := strings.Cut(p, " ")
			if rid != id {
				continue
			}
			var m replyMsg
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				return reports, fmt.Errorf("unreadable reply from the worker: %w", err)
			}
			if m.Accepted {
				ack.Stop()
				resend.Stop() // no tick is delivered after Stop
			}
			if m.Progress != nil && w.cfg.Progress != nil {
				w.cfg.Progress(*m.Progress)
			}
			if m.Report != nil {
				reports = append(reports, *m.Report)
				if progress != nil {
					progress(*m.Report)
				}
			}
			if m.Error != "" && m.Done {
				return reports, fmt.Errorf("the worker could not resync: %s", m.Error)
			}
			if m.Done {
				return reports, nil
			}
		}
	}
}
