package pgredistest

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgredis/pgredis/internal/testenv"
)

// Logs records a worker's log lines (and passes them on to t.Log), so a
// test can assert what the worker said and how often.
type Logs struct {
	t   testing.TB
	mu  sync.Mutex
	buf bytes.Buffer
}

// CaptureLogs returns a logger at Info level writing into the returned Logs.
func CaptureLogs(t testing.TB) (*slog.Logger, *Logs) {
	l := &Logs{t: t}
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelInfo})), l
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.buf.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// String is everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// Lines are the logged lines holding every one of subs.
func (l *Logs) Lines(subs ...string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// Wait polls until a line holding every one of subs was logged.
func (l *Logs) Wait(t testing.TB, timeout time.Duration, subs ...string) string {
	t.Helper()
	var found string
	testenv.Eventually(t, timeout, func() error {
		if lines := l.Lines(subs...); len(lines) > 0 {
			found = lines[0]
			return nil
		}
		return fmt.Errorf("no log line with %q", subs)
	})
	return found
}
