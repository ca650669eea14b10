package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/pgredis/pgredis/internal/spell"
)

// parseEnvError turns envconfig's error for a value of the wrong type
// into one naming the variable and what it wants.
func parseEnvError(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("bad environment: %w", err)
	}
	want := "a " + pe.TypeName
	switch pe.TypeName {
	case "int":
		want = "a whole number"
	case "bool":
		want = "true or false"
	case "time.Duration", "Duration":
		want = "a Go duration such as 500ms, 10s or 1m"
	}
	return fmt.Errorf("%s=%s is not %s", pe.KeyName, pe.Value, want)
}

// validate checks every variable's value, so a wrong one fails at start
// with its name instead of quietly becoming a default.
func (e *env) validate() error {
	if e.StatePrefix == "" {
		return fmt.Errorf("PGREDIS_STATE_PREFIX must not be empty")
	}
	switch e.Capture {
	case "auto", "notify", "queue":
	default:
		return fmt.Errorf("PGREDIS_CAPTURE=%s: want auto, notify or queue", e.Capture)
	}
	if e.BatchSize < 1 {
		return fmt.Errorf("PGREDIS_BATCH_SIZE=%d: want at least 1", e.BatchSize)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"PGREDIS_STANDBY_POLL", e.StandbyPoll},
		{"PGREDIS_CHECK_INTERVAL", e.CheckInterval},
		{"PGREDIS_STOP_TIMEOUT", e.StopTimeout},
		{"PGREDIS_MAX_BACKOFF", e.MaxBackoff},
		{"PGREDIS_HEARTBEAT_INTERVAL", e.HeartbeatInterval},
		{"PGREDIS_HEARTBEAT_TIMEOUT", e.HeartbeatTimeout},
		{"PGREDIS_PROGRESS_INTERVAL", e.ProgressInterval},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s=%s: want a positive duration such as 500ms or 10s", d.name, d.v)
		}
	}
	if e.HeartbeatTimeout <= e.HeartbeatInterval {
		return fmt.Errorf("PGREDIS_HEARTBEAT_TIMEOUT=%s must be longer than PGREDIS_HEARTBEAT_INTERVAL=%s (every heartbeat would be late)", e.HeartbeatTimeout, e.HeartbeatInterval)
	}
	if e.HTTPAddr != "" {
		if _, port, err := net.SplitHostPort(e.HTTPAddr); err != nil || port == "" {
			return fmt.Errorf("PGREDIS_HTTP_ADDR=%s: want host:port or :port, e.g. :9187", e.HTTPAddr)
		}
	}
	if _, err := e.loggerTo(os.Stderr); err != nil {
		return err
	}
	return nil
}

// unknownVars lists the PGREDIS_* variables set in environ that pgredis
// does not read (a misspelling, or one from another version), each with
// the closest known name.
func unknownVars(environ []string) [][2]string {
	known := map[string]bool{}
	for _, n := range envNames() {
		known[n] = true
	}
	var out [][2]string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		// PGREDIS_TEST_* configure the test suite, not pgredis.
		if !strings.HasPrefix(name, "PGREDIS_") || strings.HasPrefix(name, "PGREDIS_TEST_") || known[name] {
			continue
		}
		best, bestD := "", -1
		for _, k := range envNames() {
			if d := spell.Distance(name, k); bestD < 0 || d < bestD {
				best, bestD = k, d
			}
		}
		// A far neighbour is no suggestion.
		if bestD > max(3, len(name)/3) {
			best = ""
		}
		out = append(out, [2]string{name, best})
	}
	return out
}

// warnUnknownVars logs one line per unknown PGREDIS_* variable.
func (e *env) warnUnknownVars() {
	unknown := unknownVars(os.Environ())
	if len(unknown) == 0 {
		return
	}
	log, err := e.logger()
	if err != nil {
		return
	}
	for _, u := range unknown {
		msg := fmt.Sprintf("%s is not a pgredis variable and is ignored", u[0])
		if u[1] != "" {
			msg += fmt.Sprintf("; did you mean %s?", u[1])
		}
		log.Warn(msg, "variable", u[0], "suggestion", u[1])
	}
}
