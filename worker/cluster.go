package worker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// Redis Cluster: a Lua script may only touch keys of one hash slot, so
// the single owner key cannot fence a batch spread over many slots. In
// cluster mode the claim is also written to one owner key per slot,
// <prefix>owner{TAG} where TAG hashes to that slot, and every batch is
// split by slot, each part applied by the fenced script against its own
// slot's owner key. The fence stays exact: a new owner writes its token
// to all 16384 slot keys before it writes anything else, so a stale
// worker's write to any slot is refused from then on. A master that
// restarts empty loses its slots' owner keys, so writes there are
// refused and the worker rebuilds the mirror, as on a single node.
//
// Why every slot, and not only the slots the mirror uses, created when
// first written: someone would have to create a slot's key on its first
// write, and a worker that lost its lock (not knowing it yet) could be
// first, with its old token. No script can compare that with the main
// owner key in the same atomic step, since it lives in another slot, so
// the stale write would pass the fence and later fence off the rightful
// owner. Writing all of them at claim time closes that window; the cost
// is 16384 small keys (about 1 MB) and one pipelined round trip per
// master per claim.

const numSlots = 16384

// slotTags[i] is a short string whose CRC16 lands in slot i.
var slotTags = sync.OnceValue(func() []string {
	tags := make([]string, numSlots)
	left := numSlots
	for n := int64(0); left > 0; n++ {
		tag := strconv.FormatInt(n, 36)
		if s := crc16(tag) % numSlots; tags[s] == "" {
			tags[s] = tag
			left--
		}
	}
	return tags
})

// keySlot is Redis Cluster's slot of a key, hash tags included.
func keySlot(key string) int {
	if i := strings.IndexByte(key, '{'); i >= 0 {
		if j := strings.IndexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	return int(crc16(key) % numSlots)
}

// crc16 is CRC-16/XMODEM, the hash Redis Cluster uses for slots.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for b := 0; b < 8; b++ {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

func (s *store) cluster() (*redis.ClusterClient, bool) {
	c, ok := s.rdb.(*redis.ClusterClient)
	return c, ok
}

// slotOwnerKey is the owner key that lives in slot.
func (s *store) slotOwnerKey(slot int) string {
	return s.ownerKey + "{" + slotTags()[slot] + "}"
}

// claimSlots writes the token to every slot's owner key.
func (s *store) claimSlots(ctx context.Context, c *redis.ClusterClient) error {
	if keySlot(s.slotOwnerKey(1)) != 1 {
		return fmt.Errorf("the state prefix %q holds a '{', which pins every key under it to one Redis Cluster slot: choose a PGREDIS_STATE_PREFIX without braces", strings.TrimSuffix(s.ownerKey, "owner"))
	}
	pipe := c.Pipeline()
	for slot := 0; slot < numSlots; slot++ {
		pipe.Set(ctx, s.slotOwnerKey(slot), s.token, 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("error claiming the mirror's slots in Redis Cluster: %w", err)
	}
	return nil
}

// ownedSlots checks one slot owner key on every master's slot ranges, so
// a master that restarted empty is noticed without a write to it.
func (s *store) ownedSlots(ctx context.Context, c *redis.ClusterClient) (bool, error) {
	shards, err := c.ClusterShards(ctx).Result()
	if err != nil {
		return false, err
	}
	pipe := c.Pipeline()
	var cmds []*redis.StringCmd
	for _, sh := range shards {
		for _, r := range sh.Slots {
			cmds = append(cmds, pipe.Get(ctx, s.slotOwnerKey(int(r.Start))))
		}
	}
	_, err = pipe.Exec(ctx)
	for _, cmd := range cmds {
		v, cerr := cmd.Result()
		if cerr == redis.Nil || (cerr == nil && v != s.token) {
			return false, nil
		}
	}
	return err == nil, err
}

// applySlots applies a batch split by slot, each part fenced by its
// slot's owner key; the parts go in one pipeline, one round trip per
// master.
func (s *store) applySlots(ctx context.Context, c *redis.ClusterClient, writes []write) error {
	bySlot := map[int][]write{}
	var order []int
	for _, w := range writes {
		slot := keySlot(w.key)
		if _, ok := bySlot[slot]; !ok {
			order = append(order, slot)
		}
		bySlot[slot] = append(bySlot[slot], w)
	}
	pipe := c.Pipeline()
	var cmds []*redis.Cmd
	for _, slot := range order {
		cmds = append(cmds, s.queueScripts(ctx, pipe, s.slotOwnerKey(slot), bySlot[slot])...)
	}
	if err := s.execScripts(ctx, pipe, cmds); err != nil {
		return err
	}
	// index=: the keys and their companion records are written; the
	// sets they moved between follow, slot by slot.
	var ops []setOp
	for _, c := range cmds {
		ops = append(ops, deferredSetOps(c.Val())...)
	}
	return s.applySetOps(ctx, c, ops)
}

// applySetOps runs set commands deferred by the apply script, fenced per
// slot; the commands of one set keep their order.
func (s *store) applySetOps(ctx context.Context, c *redis.ClusterClient, ops []setOp) error {
	if len(ops) == 0 {
		return nil
	}
	bySlot := map[int][]setOp{}
	var order []int
	for _, op := range ops {
		slot := keySlot(op.set)
		if _, ok := bySlot[slot]; !ok {
			order = append(order, slot)
		}
		bySlot[slot] = append(bySlot[slot], op)
	}
	pipe := c.Pipeline()
	var cmds []*redis.Cmd
	for _, slot := range order {
		list := bySlot[slot]
		for start := 0; start < len(list); start += maxScriptKeys {
			chunk := list[start:min(start+maxScriptKeys, len(list))]
			keys := []string{s.slotOwnerKey(slot)}
			args := []any{s.token}
			for _, op := range chunk {
				keys = append(keys, op.set)
				args = append(args, op.cmd, op.key, op.score)
			}
			cmds = append(cmds, pipe.Eval(ctx, setOpsScript, keys, args...))
		}
	}
	return s.execScripts(ctx, pipe, cmds)
}

// readStringsEach reads string values key by key (MGET needs one slot).
func (s *store) readStringsEach(ctx context.Context, keys []string) (vals []string, ok []bool, err error) {
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.StringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Get(ctx, k)
	}
	_, err = pipe.Exec(ctx)
	vals, ok = make([]string, len(keys)), make([]bool, len(keys))
	for i, c := range cmds {
		v, cerr := c.Result()
		switch {
		case cerr == nil:
			vals[i], ok[i] = v, true
		case cerr == redis.Nil, strings.HasPrefix(cerr.Error(), "WRONGTYPE"):
		default:
			return nil, nil, fmt.Errorf("error reading from Redis: %w", cerr)
		}
	}
	if err != nil && err != redis.Nil && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return nil, nil, fmt.Errorf("error reading from Redis: %w", err)
	}
	return vals, ok, nil
}
