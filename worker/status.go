package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
)

// CountKeys counts the keys of a table's template in Redis: a SCAN of its
// glob (on every master of a cluster), keeping only keys the template
// matches exactly.
func CountKeys(ctx context.Context, rdb redis.UniversalClient, key spec.Template) (int64, error) {
	var n int64
	err := (&store{rdb: rdb}).scan(ctx, key.Glob(), func(keys []string) error {
		for _, k := range keys {
			if key.Matches(k) {
				n++
			}
		}
		return nil
	})
	return n, err
}

// ReadStatus reads the active worker's status key; ok is false when no
// worker has written one.
func ReadStatus(ctx context.Context, rdb redis.UniversalClient, prefix string) (st Status, ok bool, err error) {
	raw, err := rdb.Get(ctx, StatusKey(prefix)).Result()
	if errors.Is(err, redis.Nil) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("error reading %s: %w", StatusKey(prefix), err)
	}
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		return st, false, fmt.Errorf("unreadable %s: %w", StatusKey(prefix), err)
	}
	return st, true, nil
}
