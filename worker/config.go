// Package worker is the Redis side of pgredis: it applies decoded changes
// to Redis in order and reconciles the mirror with the tables.
package worker

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
)

// Config configures a Worker. Zero durations and sizes take defaults.
type Config struct {
	// PG is the PostgreSQL connection; the worker pins the rendering
	// settings on its own sessions.
	PG *pgx.ConnConfig
	// Redis is the mirror.
	Redis redis.UniversalClient
	// Tables are the tables this worker mirrors; they must be installed
	// exactly so by migrate up.
	Tables []spec.Table
	// StatePrefix prefixes the few keys pgredis keeps for itself.
	StatePrefix string
	Logger      *slog.Logger

	// BatchSize bounds the notifications applied in one Redis round trip.
	BatchSize int
	// Buffer bounds the notifications read ahead of the apply loop.
	Buffer int
	// StandbyPoll is how often a standby tries to take the lock.
	StandbyPoll time.Duration
	// CheckInterval is how often the active worker checks Redis still
	// holds its claim (it notices a restarted or flushed Redis this way).
	CheckInterval time.Duration
	// IdlePing is how long the listening session may be quiet before it
	// is pinged.
	IdlePing time.Duration
	// MaxBackoff caps the reconnect backoff.
	MaxBackoff time.Duration
	// ApplicationName identifies the worker in pg_stat_activity.
	ApplicationName string

	// Metrics, when set, receives the worker's measurements.
	Metrics *Metrics
	// HeartbeatInterval is how often the worker probes both stores and,
	// while active, sends a heartbeat through the pipeline.
	HeartbeatInterval time.Duration
	// HeartbeatTimeout is how long an active worker may go without a
	// heartbeat applied before Ready fails.
	HeartbeatTimeout time.Duration
	// Progress receives a long reconcile's progress every
	// ProgressInterval; nil logs it.
	Progress         func(Progress)
	ProgressInterval time.Duration
	// AuditInterval is how often the active worker re-verifies every
	// table against Redis, repairing drift (one table at a time, paced
	// evenly over the interval); zero takes 10m, negative turns it off.
	AuditInterval time.Duration
	// AuditRowsPerSecond paces the audit's reads of a table.
	AuditRowsPerSecond int
	// ResyncAckTimeout bounds how long a resync waits for the active
	// worker to take its request.
	ResyncAckTimeout time.Duration

	// Capture chooses how the triggers hand changes over: CaptureAuto
	// (the default) switches between notifications and the queue by the
	// load, CaptureNotify always notifies, CaptureQueue always queues
	// while a worker is active (docs/architecture.md: "Capture modes: notify and queue").
	Capture string
	// CaptureSample is how often the active worker samples the load to
	// decide the capture mode.
	CaptureSample time.Duration
	// CapturePoll is how long the worker waits, in queue mode, before it
	// drains again after a drain that took less than a whole chunk.
	CapturePoll time.Duration
	// CaptureAlternate, for tests, switches the capture mode back and
	// forth at this interval instead of by the load.
	CaptureAlternate time.Duration
}

func (c *Config) setDefaults() error {
	if c.PG == nil || c.Redis == nil {
		return fmt.Errorf("worker config needs PG and Redis")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.StatePrefix == "" {
		c.StatePrefix = "pgredis:"
	}
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.BatchSize, 256)
	def(&c.Buffer, 1024)
	defDur(&c.StandbyPoll, time.Second)
	defDur(&c.CheckInterval, time.Second)
	defDur(&c.IdlePing, 15*time.Second)
	defDur(&c.MaxBackoff, 10*time.Second)
	defDur(&c.HeartbeatInterval, time.Second)
	defDur(&c.HeartbeatTimeout, 15*time.Second)
	defDur(&c.ProgressInterval, 5*time.Second)
	defDur(&c.ResyncAckTimeout, time.Minute)
	def(&c.AuditRowsPerSecond, 20000)
	if c.AuditInterval == 0 {
		c.AuditInterval = 10 * time.Minute
	}
	defDur(&c.CaptureSample, 250*time.Millisecond)
	defDur(&c.CapturePoll, 2*time.Millisecond)
	switch c.Capture {
	case "":
		c.Capture = CaptureAuto
	case CaptureAuto, CaptureNotify, CaptureQueue:
	default:
		return fmt.Errorf("worker config: capture %q is not auto, notify or queue", c.Capture)
	}
	if c.ApplicationName == "" {
		c.ApplicationName = "pgredis"
	}
	return nil
}
