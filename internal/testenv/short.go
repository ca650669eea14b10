package testenv

import "testing"

// needServers skips a test that needs a real PostgreSQL or Redis when the
// fast tier runs (go test -short): that tier needs no server.
func needServers(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs PostgreSQL and Redis: skipped by -short (the fast tier)")
	}
}
