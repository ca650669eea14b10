package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/worker"
)

// redisLogger hands go-redis's internal messages to slog at debug level:
// the errors they describe also reach pgredis as returned errors.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis client", "message", fmt.Sprintf(format, v...))
}

func workerConfig(ctx context.Context, e *env) (worker.Config, error) {
	specs, err := e.tables()
	if err != nil {
		return worker.Config{}, err
	}
	pgcfg, err := e.pgConfig()
	if err != nil {
		return worker.Config{}, err
	}
	rdb, err := e.redis()
	if err != nil {
		return worker.Config{}, err
	}
	log, err := e.logger()
	if err != nil {
		return worker.Config{}, err
	}
	// go-redis logs dial failures itself, to stderr; route them through
	// our logger so a failure is reported once, in our format.
	redis.SetLogger(redisLogger{log})
	host, _ := os.Hostname()
	return worker.Config{
		PG:              pgcfg,
		Redis:           rdb,
		Tables:          specs,
		StatePrefix:     e.StatePrefix,
		Logger:          log,
		BatchSize:       e.BatchSize,
		StandbyPoll:     e.StandbyPoll,
		CheckInterval:   e.CheckInterval,
		MaxBackoff:      e.MaxBackoff,
		ApplicationName: fmt.Sprintf("pgredis worker %s pid %d", host, os.Getpid()),

		HeartbeatInterval: e.HeartbeatInterval,
		HeartbeatTimeout:  e.HeartbeatTimeout,
		ProgressInterval:  e.ProgressInterval,
		// PGREDIS_AUDIT_INTERVAL=0 turns the audit off.
		AuditInterval:      cmp.Or(e.AuditInterval, -1),
		AuditRowsPerSecond: e.AuditRate,
		Capture:            e.Capture,
		CaptureAlternate:   e.CaptureAlternate,
	}, nil
}

func runWorker(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("worker", "worker", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	cfg, err := workerConfig(ctx, e)
	if err != nil {
		return err
	}
	defer cfg.Redis.Close()
	if _, err := precheck(ctx, e, cfg.Tables, cfg.Redis); err != nil {
		return err
	}
	var reg *prometheus.Registry
	if e.HTTPAddr != "" {
		reg, cfg.Metrics = newRegistry()
	}
	w, err := worker.New(cfg)
	if err != nil {
		return err
	}
	if e.HTTPAddr != "" {
		stopHTTP, err := serveOps(ctx, e.HTTPAddr, opsHandler(reg, w), cfg.Logger)
		if err != nil {
			return err
		}
		defer stopHTTP()
	}
	// The worker's life ends with Stop below, after a signal, so it can
	// finish cleanly instead of being cut off with the signal context.
	if err := w.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	logStartup(cfg.Logger, e, "worker")
	select {
	case <-w.Done():
		return w.Err()
	case <-ctx.Done():
	}
	// A second signal exits at once: nothing is lost, since the next
	// worker's reconcile re-derives whatever was in flight.
	again := make(chan os.Signal, 1)
	signal.Notify(again, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-again
		cfg.Logger.Warn("second signal; exiting at once")
		os.Exit(0)
	}()
	cfg.Logger.Info("stopping worker")
	stopped := make(chan struct{})
	go func() { _ = w.Stop(context.Background()); close(stopped) }()
	select {
	case <-stopped:
		cfg.Logger.Info("worker stopped")
	case <-time.After(e.StopTimeout):
		cfg.Logger.Warn("worker did not stop in time; exiting anyway", "stop_timeout_seconds", e.StopTimeout)
	}
	return nil
}
