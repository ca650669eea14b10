package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// StartSentinel starts a private redis-server in sentinel mode monitoring
// the master at masterAddr under name (quorum 1). Sentinel needs a
// writable config file of its own, which it rewrites.
func StartSentinel(t testing.TB, name, masterAddr string) *RedisServer {
	needServers(t)
	t.Helper()
	s, err := startSentinel(name, masterAddr)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(s.p.close)
	return s
}

func startSentinel(name, masterAddr string) (*RedisServer, error) {
	bin, err := exec.LookPath(RedisServerBinary())
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := tempDir("sentinel")
	if err != nil {
		return nil, err
	}
	host, mport, _ := strings.Cut(masterAddr, ":")
	conf := filepath.Join(dir, "sentinel.conf")
	body := fmt.Sprintf("port %d\nbind 127.0.0.1\ndir %s\nsentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 2000\n",
		port, dir, name, host, mport, name)
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &RedisServer{p: &proc{name: "redis-sentinel", dir: dir, argv: []string{bin, conf, "--sentinel"}, termSig: syscall.SIGTERM}, port: port}
	track(s.p)
	if err := s.start(); err != nil {
		s.p.close()
		return nil, err
	}
	return s, nil
}

// StartCluster starts n private cluster-enabled redis-servers and joins
// them into one Redis Cluster of n masters covering every slot.
func StartCluster(t testing.TB, n int) []*RedisServer {
	needServers(t)
	t.Helper()
	var nodes []*RedisServer
	args := []string{"--cluster", "create"}
	for i := 0; i < n; i++ {
		s := StartRedis(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "5000")
		nodes = append(nodes, s)
		args = append(args, s.Addr())
	}
	args = append(args, "--cluster-yes")
	out, err := exec.Command("redis-cli", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("testenv: redis-cli --cluster create: %v\n%s", err, out)
	}
	// Every node must see every slot served before a client can rely on it.
	err = poll(30*time.Second, func() error {
		for _, s := range nodes {
			info, err := exec.Command("redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "CLUSTER", "INFO").Output()
			if err != nil {
				return err
			}
			if !bytes.Contains(info, []byte("cluster_state:ok")) || !bytes.Contains(info, []byte(fmt.Sprintf("cluster_known_nodes:%d", n))) {
				return fmt.Errorf("node %s: %s", s.Addr(), bytes.TrimSpace(info))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("testenv: cluster not ready: %v", err)
	}
	return nodes
}
