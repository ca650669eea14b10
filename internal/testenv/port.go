package testenv

import (
	"errors"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Ports come from [portLow, portLow+portSpan), below the kernel's ephemeral
// range, so outgoing connections never occupy a port we hand out, not even
// while its server is down for a restart. port+clusterBusOffset (Redis
// Cluster's bus port) is implied by the reservation and checked too.
const (
	portLow          = 10000
	portSpan         = 10000
	clusterBusOffset = 10000
)

var ports struct {
	mu   sync.Mutex
	used map[int]bool
}

// FreePort reserves the port for the rest of the process: within it via a
// set, across concurrently running test processes via a file lock.
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := freePort()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

func freePort() (int, error) {
	ports.mu.Lock()
	defer ports.mu.Unlock()
	if ports.used == nil {
		ports.used = map[int]bool{}
	}
	for range 1000 {
		p := portLow + rand.IntN(portSpan)
		if ports.used[p] {
			continue
		}
		ok, err := tryLock(int64(p))
		if err != nil {
			return 0, err
		}
		if !ok {
			continue
		}
		ports.used[p] = true // keep even if unbindable: someone else uses it
		if bindable(p) && bindable(p+clusterBusOffset) {
			return p, nil
		}
	}
	return 0, errors.New("no free loopback port found")
}

func bindable(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
