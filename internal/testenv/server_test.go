package testenv

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestRedisServerIsTheOneAsked: the private and the shared servers run the
// binary PGREDIS_TEST_REDIS_SERVER names, so `make unit-valkey` cannot pass
// while it silently tests Redis (Valkey answers INFO with server_name:valkey
// next to a redis_version it keeps for clients).
func TestRedisServerIsTheOneAsked(t *testing.T) {
	needServers(t)
	t.Parallel()
	want := "redis"
	if strings.HasPrefix(filepath.Base(RedisServerBinary()), "valkey") {
		want = "valkey"
	}
	addrs := []string{StartRedis(t).Addr()}
	if Redis(t); !sharedIsExternal() {
		addrs = append(addrs, shared.addr)
	}
	for _, addr := range addrs {
		info, err := redisInfo(addr, "server")
		if err != nil {
			t.Fatalf("INFO server at %s: %v", addr, err)
		}
		got := "redis"
		if strings.Contains(info, "server_name:valkey") || strings.Contains(info, "valkey_version:") {
			got = "valkey"
		}
		if got != want {
			t.Errorf("the server at %s is %s, but %s (PGREDIS_TEST_REDIS_SERVER) asks for %s:\n%s", addr, got, RedisServerBinary(), want, info)
		}
	}
}
