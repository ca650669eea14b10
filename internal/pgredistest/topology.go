package pgredistest

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"
)

// UseRedis points the bundle at another Redis topology (a private
// server, a cluster, a sentinel-managed master, TLS): every worker
// configuration gets a client from newClient, and Diff reads through one
// too, visiting every master of a cluster.
func (b *Bundle) UseRedis(t testing.TB, newClient func() redis.UniversalClient) {
	t.Helper()
	b.newClient = newClient
	b.mirror = newClient()
	t.Cleanup(func() { b.mirror.Close() })
}

// mirrorClient is the client Diff reads the mirror with.
func (b *Bundle) mirrorClient() redis.UniversalClient {
	if b.mirror != nil {
		return b.mirror
	}
	return b.Redis
}

// allKeys lists every key, on every master of a cluster.
func allKeys(ctx context.Context, rdb redis.UniversalClient) ([]string, error) {
	c, ok := rdb.(*redis.ClusterClient)
	if !ok {
		return rdb.Keys(ctx, "*").Result()
	}
	var keys []string
	mu := make(chan struct{}, 1)
	err := c.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
		ks, err := n.Keys(ctx, "*").Result()
		mu <- struct{}{}
		keys = append(keys, ks...)
		<-mu
		return err
	})
	return keys, err
}
