package worker

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/redis/go-redis/v9"
)

// write is one key's new state: deleted, a string (json), or a hash.
type write struct {
	key    string
	del    bool
	hash   bool
	value  string   // json
	fields []string // hash: field, value, field, value...
	ttlMS  int64
	// push: LPUSH value to the list and expire it in ttlMS (a barrier's
	// answer).
	push bool
	// expireAtMS is the key's expiry instant (expire_at=), Unix ms; 0
	// for none.
	expireAtMS int64
	// index identifies the index= options of the key's table ("" for
	// none, see indexID); members are the sets the key is in now (none
	// for a delete).
	index   string
	members []member
	// cmd: run this command on key (its arguments after the key); the
	// reconcile's repairs of index sets and companion records.
	cmd []string
}

// ErrFenced means another worker claimed the mirror, or Redis lost the
// claim (it restarted empty, or was flushed or replaced).
var ErrFenced = errors.New("the mirror's owner key does not hold this worker's token")

// applyScript applies a batch of writes only while the owner key holds the
// caller's token. The token fences off a worker that lost its lock but does
// not know it yet: once the next worker claims the mirror, the old one's
// in-flight batch is refused instead of overwriting newer values.
//
// KEYS[1] is the owner key, KEYS[2..] the data keys; ARGV[1] the token,
// then per key: op ("S" string, "H" hash, "D" delete, "L" push to a
// list), ttl ms (or "@" and the expiry instant in Unix ms, for
// expire_at=), and for S and L the value, for H the field count and the
// fields and values. An op in lower case (an index= table's) is followed
// by the key's memberships (see reindexLua).
const applyScript = reindexLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return redis.error_reply('PGREDIS_FENCED')
end
local a = 2
for i = 2, #KEYS do
	local k, op, ttl, at = KEYS[i], ARGV[a], tonumber(ARGV[a + 1]), nil
	local ix = op ~= string.upper(op)
	op = string.upper(op)
	if ttl == nil then
		ttl, at = 0, string.sub(ARGV[a + 1], 2)
	end
	a = a + 2
	if op == 'S' then
		if at then
			redis.call('SET', k, ARGV[a], 'PXAT', at)
		elseif ttl > 0 then
			redis.call('SET', k, ARGV[a], 'PX', ttl)
		else
			redis.call('SET', k, ARGV[a])
		end
		a = a + 1
	elseif op == 'H' then
		local n = tonumber(ARGV[a])
		a = a + 1
		redis.call('UNLINK', k)
		if n > 0 then
			redis.call('HSET', k, unpack(ARGV, a, a + 2 * n - 1))
			if at then
				redis.call('PEXPIREAT', k, at)
			elseif ttl > 0 then
				redis.call('PEXPIRE', k, ttl)
			end
		end
		a = a + 2 * n
	elseif op == 'C' then
		local n = tonumber(ARGV[a])
		redis.call(ARGV[a + 1], k, unpack(ARGV, a + 2, a + n))
		a = a + n + 1
	elseif op == 'L' then
		redis.call('LPUSH', k, ARGV[a])
		redis.call('PEXPIRE', k, ttl)
		a = a + 1
	else
		redis.call('UNLINK', k)
	end
	if ix then
		a = reindex(k, a)
	end
end
if #setops > 0 then
	return setops
end
return #KEYS - 1
`

// store is the Redis side of the mirror.
type store struct {
	rdb      redis.UniversalClient
	ownerKey string
	token    string
}

func newToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// claim makes this worker the mirror's owner. Only the lock holder calls it.
func (s *store) claim(ctx context.Context) (err error) {
	defer func() { err = redisErr(err) }()
	s.token = newToken()
	if c, ok := s.cluster(); ok {
		if err := s.claimSlots(ctx, c); err != nil {
			return err
		}
	}
	if err := s.rdb.Set(ctx, s.ownerKey, s.token, 0).Err(); err != nil {
		return fmt.Errorf("error claiming the mirror in Redis: %w", err)
	}
	return nil
}

// prefix is the state prefix (PGREDIS_STATE_PREFIX).
func (s *store) prefix() string { return strings.TrimSuffix(s.ownerKey, "owner") }

// owned reports whether the owner key still holds this worker's token.
func (s *store) owned(ctx context.Context) (_ bool, err error) {
	defer func() { err = redisErr(err) }()
	v, err := s.rdb.Get(ctx, s.ownerKey).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if c, ok := s.cluster(); ok && v == s.token {
		return s.ownedSlots(ctx, c)
	}
	return v == s.token, nil
}

// ping checks Redis answers.
func (s *store) ping(ctx context.Context) error {
	return redisErr(s.rdb.Ping(ctx).Err())
}

// owner returns the token that holds the mirror when it is another
// worker's; "" when it is this worker's or nobody's.
func (s *store) owner(ctx context.Context) (_ string, err error) {
	defer func() { err = redisErr(err) }()
	v, err := s.rdb.Get(ctx, s.ownerKey).Result()
	if errors.Is(err, redis.Nil) || v == s.token {
		return "", nil
	}
	return v, err
}

// maxScriptKeys bounds one script call (Redis runs each atomically);
// several calls share a pipeline. The applier flushes before a new
// transaction once flushAtKeys wait, so a transaction of up to maxTxnKeys
// keys always fits in one call (txn.go).
const maxScriptKeys = maxTxnKeys + flushAtKeys

// apply writes a batch in one round trip, fenced by the owner token.
func (s *store) apply(ctx context.Context, writes []write) error {
	err := redisErr(s.applyOnce(ctx, writes))
	if err == nil || !s.refused(ctx, writes, err) {
		return err
	}
	return s.isolate(ctx, writes, err)
}

// refused reports an error that may be Redis refusing one of the values
// in writes. Redis answers a bulk string over proto-max-bulk-len with an
// error and closes the connection at once; a client still sending the
// value sees the connection reset before it reads the error. So a reset
// on a batch carrying a value Redis may refuse (proto-max-bulk-len is at
// least 1 MiB) while Redis still answers a PING counts as a refusal too.
func (s *store) refused(ctx context.Context, writes []write, err error) bool {
	return isValueRefusal(err) || s.droppedOn(ctx, writes, err)
}

// droppedOn reports the connection dropped under writes that carry a
// value Redis may refuse, while Redis still answers.
func (s *store) droppedOn(ctx context.Context, writes []write, err error) bool {
	return isConnDropped(err) && slices.ContainsFunc(writes, write.refusable) && s.ping(ctx) == nil
}

// minBulkLimit is the lowest proto-max-bulk-len Redis accepts.
const minBulkLimit = 1 << 20

// refusable reports a write carrying a value Redis may refuse for its
// size.
func (w write) refusable() bool { return w.largest() >= minBulkLimit }

// largest is the length of the write's largest value.
func (w write) largest() int {
	n := len(w.value)
	for _, f := range w.fields {
		n = max(n, len(f))
	}
	return n
}

// isConnDropped reports the connection closed under a command.
func isConnDropped(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// isolate applies writes one by one after Redis refused a batch for one
// of its values (over proto-max-bulk-len, say): every other write is
// applied, and each refused key is deleted, so no older value stays under
// it. It returns the refused keys, which are their table's trouble, not
// an outage.
func (s *store) isolate(ctx context.Context, writes []write, cause error) error {
	ref := &refusedWrites{cause: errors.Unwrap(cause)}
	var dels []write
	for _, w := range writes {
		err := redisErr(s.applyOnce(ctx, []write{w}))
		if s.droppedOn(ctx, []write{w}, err) {
			// Once more: a reset of a connection Redis did not close on
			// this value is not the value's fault.
			if err = redisErr(s.applyOnce(ctx, []write{w})); s.droppedOn(ctx, []write{w}, err) {
				err = redisErr(fmt.Errorf("%w: Redis closed the connection twice on this value of %d bytes, as it does for one over its proto-max-bulk-len", errValueDropped, w.largest()))
			}
		}
		switch {
		case err == nil:
		case isValueRefusal(err):
			ref.keys = append(ref.keys, w.key)
			ref.cause = errors.Unwrap(err) // the refusal, not marked as an outage
			dels = append(dels, write{key: w.key, del: true, index: w.index})
		default:
			return err
		}
	}
	if len(ref.keys) == 0 {
		return nil
	}
	if err := redisErr(s.applyOnce(ctx, dels)); err != nil {
		return err
	}
	return ref
}

// errValueDropped is a value Redis closed the connection on, again and
// again, while it answered a PING in between: refused for its size.
var errValueDropped = errors.New("value refused")

// refusedWrites are keys whose value Redis refuses on its own (the rest
// of their batch was applied).
type refusedWrites struct {
	keys  []string
	cause error
}

func (e *refusedWrites) Error() string {
	return fmt.Sprintf("Redis refused the value of key %s (%v)", strings.Join(e.keys, ", "), e.cause)
}

func (e *refusedWrites) Unwrap() error { return e.cause }

// isValueRefusal reports Redis refusing a command for the size of a value
// it carries, which no retry fixes.
func isValueRefusal(err error) bool {
	if errors.Is(err, errValueDropped) {
		return true
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	return strings.Contains(msg, "invalid bulk length") || strings.Contains(msg, "exceeds maximum allowed size") || strings.Contains(msg, "string exceeds")
}

func (s *store) applyOnce(ctx context.Context, writes []write) error {
	if len(writes) == 0 {
		return nil
	}
	if c, ok := s.cluster(); ok {
		return s.applySlots(ctx, c, writes)
	}
	pipe := s.rdb.Pipeline()
	return s.execScripts(ctx, pipe, s.queueScripts(ctx, pipe, s.ownerKey, writes))
}

// queueScripts queues the fenced script for writes, in calls of at most
// maxScriptKeys keys.
func (s *store) queueScripts(ctx context.Context, pipe redis.Pipeliner, ownerKey string, writes []write) []*redis.Cmd {
	var cmds []*redis.Cmd
	for start := 0; start < len(writes); start += maxScriptKeys {
		chunk := writes[start:min(start+maxScriptKeys, len(writes))]
		keys := make([]string, 0, len(chunk)+1)
		args := make([]any, 0, 3*len(chunk)+1)
		keys = append(keys, ownerKey)
		args = append(args, s.token)
		for _, w := range chunk {
			keys = append(keys, w.key)
			ttl := strconv.FormatInt(w.ttlMS, 10)
			if w.expireAtMS > 0 {
				ttl = "@" + strconv.FormatInt(w.expireAtMS, 10)
			}
			op := func(o string) string {
				if w.index != "" {
					return strings.ToLower(o)
				}
				return o
			}
			switch {
			case w.cmd != nil:
				args = append(args, "C", ttl, len(w.cmd))
				for _, c := range w.cmd {
					args = append(args, c)
				}
			case w.del:
				args = append(args, op("D"), ttl)
			case w.push:
				args = append(args, "L", ttl, w.value)
			case w.hash:
				args = append(args, op("H"), ttl, len(w.fields)/2)
				for _, f := range w.fields {
					args = append(args, f)
				}
			default:
				args = append(args, op("S"), ttl, w.value)
			}
			if w.index != "" {
				_, cluster := s.cluster()
				args = indexBlock(s.prefix(), w, cluster, args)
			}
		}
		cmds = append(cmds, pipe.Eval(ctx, applyScript, keys, args...))
	}
	return cmds
}

func (s *store) execScripts(ctx context.Context, pipe redis.Pipeliner, cmds []*redis.Cmd) error {
	_, err := pipe.Exec(ctx)
	for _, c := range cmds {
		if cerr := c.Err(); cerr != nil && strings.Contains(cerr.Error(), "PGREDIS_FENCED") {
			return ErrFenced
		}
	}
	if err != nil {
		return fmt.Errorf("error writing to Redis: %w", err)
	}
	return nil
}

// readStrings returns the keys' string values; ok[i] is false for a key
// that is missing or not a string.
func (s *store) readStrings(ctx context.Context, keys []string) (vals []string, ok []bool, err error) {
	defer func() { err = redisErr(err) }()
	if _, cluster := s.cluster(); cluster {
		return s.readStringsEach(ctx, keys)
	}
	res, err := s.rdb.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, nil, fmt.Errorf("error reading from Redis: %w", err)
	}
	vals, ok = make([]string, len(keys)), make([]bool, len(keys))
	for i, r := range res {
		if v, isStr := r.(string); isStr {
			vals[i], ok[i] = v, true
		}
	}
	return vals, ok, nil
}

// readHashes returns the keys' hashes; nil for a missing key or another type.
func (s *store) readHashes(ctx context.Context, keys []string) (_ []map[string]string, err error) {
	defer func() { err = redisErr(err) }()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.HGetAll(ctx, k)
	}
	_, err = pipe.Exec(ctx)
	out := make([]map[string]string, len(keys))
	for i, c := range cmds {
		m, cerr := c.Result()
		if cerr != nil {
			if strings.HasPrefix(cerr.Error(), "WRONGTYPE") {
				continue
			}
			return nil, fmt.Errorf("error reading from Redis: %w", cerr)
		}
		if len(m) > 0 {
			out[i] = m
		}
	}
	if err != nil && !strings.HasPrefix(err.Error(), "WRONGTYPE") {
		return nil, fmt.Errorf("error reading from Redis: %w", err)
	}
	return out, nil
}

// readExpireTimes returns the keys' expiry instants in Unix ms (-1: none,
// -2: missing).
func (s *store) readExpireTimes(ctx context.Context, keys []string) (_ []int64, err error) {
	defer func() { err = redisErr(err) }()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.Cmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.Do(ctx, "PEXPIRETIME", k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("error reading expiry times from Redis: %w", err)
	}
	out := make([]int64, len(keys))
	for i, c := range cmds {
		v, err := c.Int64()
		if err != nil {
			return nil, fmt.Errorf("error reading expiry times from Redis: %w", err)
		}
		out[i] = v
	}
	return out, nil
}

// readTTLs returns the keys' remaining lifetimes (-1: none, -2: missing).
func (s *store) readTTLs(ctx context.Context, keys []string) (_ []int64, err error) {
	defer func() { err = redisErr(err) }()
	pipe := s.rdb.Pipeline()
	cmds := make([]*redis.DurationCmd, len(keys))
	for i, k := range keys {
		cmds[i] = pipe.PTTL(ctx, k)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("error reading TTLs from Redis: %w", err)
	}
	out := make([]int64, len(keys))
	for i, c := range cmds {
		out[i] = int64(c.Val())
	}
	return out, nil
}

// scan calls fn with batches of the keys matching glob.
func (s *store) scan(ctx context.Context, glob string, fn func([]string) error) (err error) {
	defer func() { err = redisErr(err) }()
	scanOne := func(ctx context.Context, c *redis.Client) error {
		var cursor uint64
		for {
			// A large COUNT: a sweep is mostly round trips otherwise.
			keys, next, err := c.Scan(ctx, cursor, glob, 10000).Result()
			if err != nil {
				return fmt.Errorf("error scanning Redis for %q: %w", glob, err)
			}
			if len(keys) > 0 {
				if err := fn(keys); err != nil {
					return err
				}
			}
			if cursor = next; cursor == 0 {
				return nil
			}
		}
	}
	switch c := s.rdb.(type) {
	case *redis.ClusterClient:
		// ForEachMaster scans the masters concurrently; fn is not safe
		// for that (it counts and writes), so calls take turns.
		var mu sync.Mutex
		unlocked := fn
		fn = func(keys []string) error {
			mu.Lock()
			defer mu.Unlock()
			return unlocked(keys)
		}
		return c.ForEachMaster(ctx, scanOne)
	case *redis.Client:
		return scanOne(ctx, c)
	default:
		return fmt.Errorf("unsupported Redis client %T", s.rdb)
	}
}
