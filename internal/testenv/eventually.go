package testenv

import (
	"errors"
	"testing"
	"time"
)

// Eventually replaces fixed sleeps: tests wait exactly as long as the
// condition needs, and a timeout reports why it never held.
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("condition not met within %v: %v", timeout, err)
	}
}

// errGiveUp, wrapped into a check's error, stops poll early (e.g. the server
// process died, so waiting longer cannot help).
var errGiveUp = errors.New("giving up")

func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	for delay := 20 * time.Millisecond; ; delay = min(delay*3/2, 200*time.Millisecond) {
		err := check()
		if err == nil || errors.Is(err, errGiveUp) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return err
		}
		time.Sleep(min(delay, left))
	}
}
