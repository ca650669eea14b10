package worker

import (
	"context"
	"strconv"
)

// identity names the Redis server holding the data: its run_id (new on
// every restart) and master_replid (new on a failover). A change means
// Redis restarted or was replaced, possibly from an older snapshot (an RDB
// or AOF restart, a replica that missed writes) that still holds this
// worker's claim: only a rebuild makes the mirror exact again. Empty in a
// cluster, whose masters each have their own (their owner keys cover it).
func (s *store) identity(ctx context.Context) (_ string, err error) {
	defer func() { err = redisErr(err) }()
	if _, ok := s.cluster(); ok {
		return "", nil
	}
	info, err := s.rdb.InfoMap(ctx, "server", "replication").Result()
	if err != nil {
		return "", err
	}
	return info["Server"]["run_id"] + "/" + info["Replication"]["master_replid"], nil
}

// memInfo is what Redis says about its memory limit and evictions.
type memInfo struct {
	maxmemory int64
	policy    string
	evicted   int64
}

// memory reads the memory limit and the evictions so far.
func (s *store) memory(ctx context.Context) (_ memInfo, err error) {
	defer func() { err = redisErr(err) }()
	info, err := s.rdb.InfoMap(ctx, "memory", "stats").Result()
	if err != nil {
		return memInfo{}, err
	}
	var m memInfo
	m.maxmemory, _ = strconv.ParseInt(info["Memory"]["maxmemory"], 10, 64)
	m.policy = info["Memory"]["maxmemory_policy"]
	m.evicted, _ = strconv.ParseInt(info["Stats"]["evicted_keys"], 10, 64)
	return m, nil
}
