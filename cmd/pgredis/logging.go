package main

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"runtime"
	"strings"

	"github.com/pgredis/pgredis/internal/spec"
)

// numericDurations renders every time.Duration attribute as a number of
// seconds (a float), so JSON logs can be graphed and compared; a key gets
// the _seconds suffix when it does not have it, so the unit is in the name.
func numericDurations(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() != slog.KindDuration {
		return a
	}
	key := a.Key
	if !strings.HasSuffix(key, "_seconds") {
		key += "_seconds"
	}
	return slog.Float64(key, a.Value.Duration().Seconds())
}

// printFatal reports the error that ends the command on stderr: one line,
// a JSON record when PGREDIS_LOG_FORMAT=json asks for JSON logs (so a log
// pipeline parses the failure too), plain text otherwise.
func printFatal(stderr io.Writer, err error) {
	msg := oneLine(err.Error())
	if hint := redisHint(msg); hint != "" && !strings.Contains(msg, hint) {
		msg += ": " + hint
	}
	if os.Getenv("PGREDIS_LOG_FORMAT") == "json" {
		slog.New(slog.NewJSONHandler(stderr, nil)).Error(msg, "error", msg, "exit_code", 1)
		return
	}
	fmt.Fprintf(stderr, "pgredis: error: %s\n", msg)
}

// logStartup says what started, which build, and with which
// configuration, passwords redacted. It comes once the configuration
// proved good (both stores answered): a command that cannot start prints
// its one-line error and nothing else.
func logStartup(log *slog.Logger, e *env, command string) {
	host, _ := os.Hostname()
	var tables []string
	if specs, err := spec.Parse(e.Tables); err == nil {
		for _, t := range specs {
			tables = append(tables, t.String())
		}
	}
	mode := "standalone"
	switch {
	case e.RedisCluster:
		mode = "cluster"
	case e.SentinelMaster != "":
		mode = "sentinel"
	}
	args := []any{
		"version", version, "commit", commit, "go_version", runtime.Version(),
		"pid", os.Getpid(), "host", host,
		"database_url", redactURL(e.DatabaseURL), "redis_url", redactURL(e.RedisURL), "redis_mode", mode,
		"redis_tls", strings.HasPrefix(e.RedisURL, "rediss://"), "redis_client_cert", e.RedisTLSCertFile != "",
		"tables", strings.Join(tables, ","), "state_prefix", e.StatePrefix, "http_addr", e.HTTPAddr,
		"log_level", e.LogLevel, "batch_size", e.BatchSize,
		"heartbeat_interval", e.HeartbeatInterval, "heartbeat_timeout", e.HeartbeatTimeout,
	}
	if e.SentinelMaster != "" {
		args = append(args, "sentinel_master", e.SentinelMaster, "sentinel_addrs", e.SentinelAddrs)
	}
	log.Info("pgredis "+command+" started", args...)
}

const redacted = "REDACTED"

var kvPassword = regexp.MustCompile(`(?i)\b(password|sslpassword)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// redactURL hides the passwords of a PostgreSQL or Redis URL (user info
// and password= query parameters) or of a libpq key=value string.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" && u.User == nil {
		// A key=value string, or nothing we can parse: blank every
		// password=... it holds, and anything after an @ in a URL.
		out := kvPassword.ReplaceAllString(s, "${1}="+redacted)
		if err != nil && strings.Contains(out, "@") {
			return redacted
		}
		return out
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, redacted)
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redisHint adds the fix to a Redis error whose cause pgredis can tell
// from the message alone.
func redisHint(msg string) string {
	switch {
	case strings.Contains(msg, "tls: certificate required"), strings.Contains(msg, "tls: bad certificate"):
		return "the Redis server wants a TLS client certificate it trusts: set PGREDIS_REDIS_TLS_CERT_FILE and PGREDIS_REDIS_TLS_KEY_FILE"
	}
	return ""
}
