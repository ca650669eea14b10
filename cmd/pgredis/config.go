package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/kelseyhightower/envconfig"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// env is pgredis's whole configuration, read from the environment.
type env struct {
	DatabaseURL string `envconfig:"DATABASE_URL"`
	RedisURL    string `envconfig:"REDIS_URL" default:"redis://127.0.0.1:6379/0"`
	Tables      string `envconfig:"PGREDIS_TABLES"`
	StatePrefix string `envconfig:"PGREDIS_STATE_PREFIX" default:"pgredis:"`

	LogFormat     string        `envconfig:"PGREDIS_LOG_FORMAT" default:"text"`
	LogLevel      string        `envconfig:"PGREDIS_LOG_LEVEL" default:"info"`
	BatchSize     int           `envconfig:"PGREDIS_BATCH_SIZE" default:"256"`
	StandbyPoll   time.Duration `envconfig:"PGREDIS_STANDBY_POLL" default:"1s"`
	CheckInterval time.Duration `envconfig:"PGREDIS_CHECK_INTERVAL" default:"1s"`
	StopTimeout   time.Duration `envconfig:"PGREDIS_STOP_TIMEOUT" default:"4s"`
	MaxBackoff    time.Duration `envconfig:"PGREDIS_MAX_BACKOFF" default:"10s"`

	HTTPAddr          string        `envconfig:"PGREDIS_HTTP_ADDR"`
	HeartbeatInterval time.Duration `envconfig:"PGREDIS_HEARTBEAT_INTERVAL" default:"1s"`
	HeartbeatTimeout  time.Duration `envconfig:"PGREDIS_HEARTBEAT_TIMEOUT" default:"15s"`
	ProgressInterval  time.Duration `envconfig:"PGREDIS_PROGRESS_INTERVAL" default:"5s"`
	AuditInterval     time.Duration `envconfig:"PGREDIS_AUDIT_INTERVAL" default:"10m"`
	AuditRate         int           `envconfig:"PGREDIS_AUDIT_ROWS_PER_SECOND" default:"20000"`
	Capture           string        `envconfig:"PGREDIS_CAPTURE" default:"auto"`
	// CaptureAlternate is for tests: the capture mode switches back and
	// forth at this interval instead of by the load.
	CaptureAlternate time.Duration `envconfig:"PGREDIS_TEST_CAPTURE_ALTERNATE"`

	RedisCluster     bool   `envconfig:"PGREDIS_REDIS_CLUSTER"`
	SentinelMaster   string `envconfig:"PGREDIS_REDIS_SENTINEL_MASTER"`
	SentinelAddrs    string `envconfig:"PGREDIS_REDIS_SENTINEL_ADDRS"`
	SentinelPassword string `envconfig:"PGREDIS_REDIS_SENTINEL_PASSWORD"`
	RedisCACert      string `envconfig:"PGREDIS_REDIS_CA_CERT"`
	RedisTLSCertFile string `envconfig:"PGREDIS_REDIS_TLS_CERT_FILE"`
	RedisTLSKeyFile  string `envconfig:"PGREDIS_REDIS_TLS_KEY_FILE"`
}

func loadEnv() (*env, error) {
	var e env
	if err := envconfig.Process("", &e); err != nil {
		return nil, parseEnvError(err)
	}
	if err := e.validate(); err != nil {
		return nil, err
	}
	e.warnUnknownVars()
	return &e, nil
}

func (e *env) pgConfig() (*pgx.ConnConfig, error) {
	if e.DatabaseURL == "" {
		return nil, fmt.Errorf("DATABASE_URL is not set: set it to your PostgreSQL URL, e.g. postgres://user:pass@host:5432/db")
	}
	cfg, err := pgx.ParseConfig(e.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL is not a valid PostgreSQL URL: %s", redactErr(err))
	}
	return cfg, nil
}

// redactErr keeps a password in a bad URL out of the error.
func redactErr(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "://"); i >= 0 {
		if at := strings.Index(msg[i:], "@"); at >= 0 {
			msg = msg[:i+3] + "***" + msg[i+at:]
		}
	}
	return msg
}

func (e *env) tables() ([]spec.Table, error) {
	if strings.TrimSpace(e.Tables) == "" {
		return nil, fmt.Errorf("PGREDIS_TABLES is not set: list the tables to sync, e.g. PGREDIS_TABLES=\"users; orders key=order:{id}\"")
	}
	return spec.Parse(e.Tables)
}

func (e *env) logger() (*slog.Logger, error) { return e.loggerTo(os.Stderr) }

// loggerTo builds the PGREDIS_LOG_FORMAT / PGREDIS_LOG_LEVEL logger on out.
func (e *env) loggerTo(out io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(e.LogLevel)); err != nil {
		return nil, fmt.Errorf("PGREDIS_LOG_LEVEL=%s: want debug, info, warn or error", e.LogLevel)
	}
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: numericDurations}
	switch e.LogFormat {
	case "text":
		return slog.New(slog.NewTextHandler(out, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(out, opts)), nil
	default:
		return nil, fmt.Errorf("PGREDIS_LOG_FORMAT=%s: want text or json", e.LogFormat)
	}
}

// connectPG connects to DATABASE_URL with a bounded wait.
func (e *env) connectPG(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := e.pgConfig()
	if err != nil {
		return nil, err
	}
	return connectPG(ctx, cfg)
}

// Every command connects through it first, so a transaction-pooling
// pooler in DATABASE_URL is refused in one line before anything else
// (its first prepared statement would fail with a bare "already exists").
func connectPG(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg = cfg.Copy()
	notify.DeferParams(cfg)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s:%d: %s", cfg.Host, cfg.Port, pgConnectCause(err))
	}
	if err := notify.CheckSession(ctx, conn, cfg); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		if errors.Is(err, notify.ErrTransactionPooler) {
			return nil, err
		}
		return nil, fmt.Errorf("cannot connect to PostgreSQL at %s:%d: %s", cfg.Host, cfg.Port, pgConnectCause(err))
	}
	return conn, nil
}

// pgConnectCause is why a connection failed, once: pgx reports every
// address and TLS mode it tried, on a line each, with the same cause.
func pgConnectCause(err error) string {
	var pe *pgconn.PgError
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &de):
		return de.Error()
	case errors.As(err, &pe):
		return fmt.Sprintf("%s: %s (SQLSTATE %s)", pe.Severity, pe.Message, pe.Code)
	case errors.As(err, &oe):
		return oe.Error()
	}
	msg := oneLine(redactErr(err))
	if _, after, ok := strings.Cut(msg, "`: "); ok && strings.HasPrefix(msg, "failed to connect to `") {
		msg = after
	}
	return msg
}
