package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
)

// index= (see notify/index.go for what the trigger renders): each write
// of an indexed table carries the key's memberships, and the apply
// script moves the key between sets by comparing them with the key's
// companion record, a hash of name -> score ("" for a plain set) under
// the state prefix. The companion lives in the key's own hash slot
// (companionKey), so a Redis Cluster applies a key and its record in one
// script; the sets may live anywhere.

// member is one index set a key belongs to.
type member struct {
	name string
	// score is the sorted set's score as Redis takes it; "" for a set.
	score string
}

// indexID identifies a table's set of index= options: it is part of its
// companion records' names, so records written under another set of
// options (before a migrate up changed them) are never read as the
// key's memberships. A key's move then never touches a set of an index
// no longer configured, which is outside every pattern pgredis owns
// (guarantee 4); the reconcile deletes such records and rebuilds the
// sets of the configured indexes. "" for a table without index=.
func indexID(xs []spec.Index) string {
	if len(xs) == 0 {
		return ""
	}
	h := sha256.New()
	for _, x := range xs {
		h.Write([]byte(x.String() + "\x00"))
	}
	return hex.EncodeToString(h.Sum(nil))[:8]
}

// companionKey is the name of key's companion record: under the state
// prefix, with the table's indexID, tagged with a string of key's hash
// slot so both share it.
func companionKey(prefix, id, key string) string {
	return prefix + "ix:" + id + ":{" + slotTags()[keySlot(key)] + "}" + key
}

// companionOf is the index id and key a companion record names; ok is
// false for another state key. A record under another tag than its
// key's is not the key's (the reconcile deletes it).
func companionOf(prefix, name string) (id, key string, ok bool) {
	rest, ok := strings.CutPrefix(name, prefix+"ix:")
	if !ok {
		return "", "", false
	}
	id, rest, ok = strings.Cut(rest, ":{")
	if !ok {
		return "", "", false
	}
	i := strings.IndexByte(rest, '}')
	if i < 0 {
		return "", "", false
	}
	return id, rest[i+1:], true
}

// cutIndexes takes the index fields off a rendered value.
func (t *table) cutIndexes(key, value string) ([]member, string, error) {
	members := make([]member, 0, len(t.Indexes))
	for i, x := range t.Indexes {
		if rest, ok := strings.CutPrefix(value, "-,"); ok {
			value = rest
			continue
		}
		n, rest, ok := strings.Cut(value, ":")
		size, err := strconv.Atoi(n)
		if !ok || err != nil || size < 0 || size > len(rest) {
			return nil, "", renderError{fmt.Errorf("value for %s key %q has a malformed index field %d (installed by another pgredis? run pgredis migrate up)", t.Table, key, i+1)}
		}
		m := member{name: rest[:size]}
		rest = rest[size:]
		end := strings.IndexByte(rest, ',')
		if end < 0 {
			return nil, "", renderError{fmt.Errorf("value for %s key %q has an unterminated index field %d", t.Table, key, i+1)}
		}
		if x.Score != "" {
			s, err := redisScore(rest[:end])
			if err != nil {
				return nil, "", renderError{fmt.Errorf("value for %s key %q has a malformed score in index field %d: %w", t.Table, key, i+1, err)}
			}
			m.score = s
		} else if end != 0 {
			return nil, "", renderError{fmt.Errorf("value for %s key %q has a score for the set index %s", t.Table, key, x)}
		}
		members = append(members, m)
		value = rest[end+1:]
	}
	return members, value, nil
}

// redisScore spells PostgreSQL's float8 text ("Infinity", "1e+20") in
// one spelling Redis parses, so the companion record compares equal
// whichever path (trigger or reconcile) wrote it.
func redisScore(s string) (string, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return "", err
	}
	switch {
	case math.IsNaN(f):
		return "", fmt.Errorf("NaN is no score")
	case math.IsInf(f, 1):
		return "inf", nil
	case math.IsInf(f, -1):
		return "-inf", nil
	}
	return strconv.FormatFloat(f, 'g', -1, 64), nil
}

// indexBlock is the apply script's arguments for a write's memberships:
// the companion record, their count, and name, score pairs.
// In a Redis Cluster (deferSets) the script cannot reach the sets, which
// live in other slots: it returns the set commands instead, and
// applySetOps runs them, slot by slot.
func indexBlock(prefix string, w write, deferSets bool, args []any) []any {
	mode := "A"
	if deferSets {
		mode = "R"
	}
	args = append(args, companionKey(prefix, w.index, w.key), mode, len(w.members))
	for _, m := range w.members {
		args = append(args, m.name, m.score)
	}
	return args
}

// reindexLua moves key k between sets: ARGV[a] is its companion record,
// then the count and name, score pairs of its memberships now. It
// removes k from the sets it left, adds it to those it joined (or
// rescores it), rewrites the record, and returns the next argument.
const reindexLua = setCallLua + `
local setops = {}
local function setop(mode, cmd, name, k, score)
	if mode == 'R' then
		table.insert(setops, cmd)
		table.insert(setops, name)
		table.insert(setops, k)
		table.insert(setops, score)
	else
		setcall(cmd, name, k, score)
	end
end
local function reindex(k, a)
	local c, mode, n = ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2])
	a = a + 3
	local now, had, changed = {}, {}, false
	for j = a, a + 2 * n - 1, 2 do
		now[ARGV[j]] = ARGV[j + 1]
	end
	local old = redis.call('HGETALL', c)
	for j = 1, #old, 2 do
		local name, score = old[j], old[j + 1]
		had[name] = score
		if now[name] == nil then
			changed = true
			if score == '' then
				setop(mode, 'SREM', name, k, score)
			else
				setop(mode, 'ZREM', name, k, score)
			end
		end
	end
	for j = a, a + 2 * n - 1, 2 do
		local name, score = ARGV[j], ARGV[j + 1]
		if had[name] ~= score then
			changed = true
			if score == '' then
				setop(mode, 'SADD', name, k, score)
			else
				setop(mode, 'ZADD', name, k, score)
			end
		end
	end
	if changed then
		redis.call('DEL', c)
		if n > 0 then
			redis.call('HSET', c, unpack(ARGV, a, a + 2 * n - 1))
		end
	end
	return a + 2 * n
end
`

// setCallLua runs one set command. An index name is pgredis's: when it
// holds another type (written by hand), an add replaces it, a removal
// leaves it for the reconcile, so a stray key never stalls the mirror.
const setCallLua = `
local function setcall(cmd, name, k, score)
	local args = {cmd, name, k}
	if cmd == 'ZADD' then
		args = {cmd, name, score, k}
	end
	local r = redis.pcall(unpack(args))
	if type(r) == 'table' and r.err then
		if string.sub(r.err, 1, 9) ~= 'WRONGTYPE' then
			-- raise it as the call would have
			redis.call(unpack(args))
		end
		if cmd == 'SADD' or cmd == 'ZADD' then
			redis.call('DEL', name)
			redis.call(unpack(args))
		end
	end
end
`

// setOpsScript runs set commands of one slot, fenced like applyScript:
// KEYS[1] is the slot's owner key, KEYS[2..] the sets; ARGV[1] the token,
// then per set the command, the member and the score.
const setOpsScript = setCallLua + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
	return redis.error_reply('PGREDIS_FENCED')
end
for i = 2, #KEYS do
	setcall(ARGV[3 * i - 4], KEYS[i], ARGV[3 * i - 3], ARGV[3 * i - 2])
end
return #KEYS - 1
`

// setOp is one set command the apply script deferred (Redis Cluster).
type setOp struct{ cmd, set, key, score string }

// deferredSetOps reads the set commands an apply script returned.
func deferredSetOps(res any) []setOp {
	list, ok := res.([]any)
	if !ok {
		return nil
	}
	var ops []setOp
	for i := 0; i+3 < len(list); i += 4 {
		str := func(v any) string { s, _ := v.(string); return s }
		ops = append(ops, setOp{str(list[i]), str(list[i+1]), str(list[i+2]), str(list[i+3])})
	}
	return ops
}

// indexState collects the memberships a reconcile's snapshot rendered,
// key by key; diff workers add concurrently. It holds every indexed row's
// memberships in memory (names and scores), unlike the key sweep's 16
// bytes a key.
type indexState struct {
	mu    sync.Mutex
	byKey map[string][]member
}

func (s *indexState) add(t *table, keys, vals []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, k := range keys {
		w, err := t.set(k, vals[i])
		if err != nil {
			return err
		}
		if !w.del && len(w.members) > 0 {
			s.byKey[k] = w.members
		}
	}
	return nil
}

// byName inverts byKey: set name -> key -> score.
func (s *indexState) byName() map[string]map[string]string {
	out := map[string]map[string]string{}
	for k, ms := range s.byKey {
		for _, m := range ms {
			if out[m.name] == nil {
				out[m.name] = map[string]string{}
			}
			out[m.name][k] = m.score
		}
	}
	return out
}

// cmdWrite is a fenced command on key: args follow the key.
func cmdWrite(key string, args ...string) write {
	return write{key: key, cmd: args}
}

// reconcileIndexes makes the table's index sets and companion records
// equal what the snapshot rendered: missing or extra members, wrong
// scores, sets of the wrong type, orphan sets (a name no row renders)
// and orphan or wrong companion records. It runs after the keys are
// exact; it returns how many entries it repaired (or would).
func (w *reconciler) reconcileIndexes(ctx context.Context, t *table, st *indexState, dry bool) (int64, error) {
	var fixed int64
	want := st.byName()
	apply := func(ws []write) error {
		if dry || len(ws) == 0 {
			return nil
		}
		return w.store.apply(ctx, ws)
	}
	seen := map[string]bool{}
	for _, x := range t.Indexes {
		zset := x.Score != ""
		err := w.store.scan(ctx, x.Template.Glob(), func(found []string) error {
			var names []string
			for _, n := range found {
				if x.Template.Matches(n) {
					names = append(names, n)
				}
			}
			have, err := w.store.readSets(ctx, names, zset)
			if err != nil {
				return err
			}
			var ws []write
			for i, n := range names {
				seen[n] = true
				fix, c := diffSet(n, have[i], want[n], zset)
				fixed += int64(c)
				ws = append(ws, fix...)
			}
			return apply(ws)
		})
		if err != nil {
			return fixed, err
		}
	}
	var ws []write
	for n, members := range want {
		if seen[n] {
			continue
		}
		zset := false
		for _, x := range t.Indexes {
			if x.Template.Matches(n) {
				zset = x.Score != ""
			}
		}
		fix, c := diffSet(n, nil, members, zset)
		fixed += int64(c)
		ws = append(ws, fix...)
	}
	if err := apply(ws); err != nil {
		return fixed, err
	}
	// Companion records: one per key that is in a set, holding exactly
	// its memberships.
	prefix := w.store.prefix()
	glob := spec.Template{Parts: []string{prefix + "ix:"}}.Glob() + "*"
	comp := map[string]bool{}
	err := w.store.scan(ctx, glob, func(found []string) error {
		var names, keys []string
		for _, n := range found {
			if _, k, ok := companionOf(prefix, n); ok && t.Key.Matches(k) {
				names, keys = append(names, n), append(keys, k)
			}
		}
		have, err := w.store.readHashes(ctx, names)
		if err != nil {
			return err
		}
		var ws []write
		for i, n := range names {
			if n != companionKey(prefix, t.indexID, keys[i]) {
				fixed++
				ws = append(ws, write{key: n, del: true})
				continue
			}
			comp[keys[i]] = true
			if wantMap := memberMap(st.byKey[keys[i]]); !maps.Equal(have[i], wantMap) {
				fixed++
				ws = append(ws, companionWrites(n, st.byKey[keys[i]])...)
			}
		}
		return apply(ws)
	})
	if err != nil {
		return fixed, err
	}
	ws = nil
	for k, ms := range st.byKey {
		if !comp[k] {
			fixed++
			ws = append(ws, companionWrites(companionKey(prefix, t.indexID, k), ms)...)
		}
	}
	return fixed, apply(ws)
}

func memberMap(ms []member) map[string]string {
	if len(ms) == 0 {
		return nil
	}
	m := make(map[string]string, len(ms))
	for _, x := range ms {
		m[x.name] = x.score
	}
	return m
}

// companionWrites rewrite a companion record to hold ms (none: deleted).
func companionWrites(name string, ms []member) []write {
	out := []write{{key: name, del: true}}
	if len(ms) > 0 {
		args := []string{"HSET"}
		for _, m := range ms {
			args = append(args, m.name, m.score)
		}
		out = append(out, cmdWrite(name, args...))
	}
	return out
}

// setState is a set as read from Redis: its members and scores (zero
// for a plain set); wrongType when the name holds another type.
type setState struct {
	members   map[string]float64
	wrongType bool
}

// diffSet returns the writes that make set name hold want (key -> score,
// "" for a plain set), and how many entries they repair (a member added,
// removed or rescored; a set deleted); have is nil for a missing set.
func diffSet(name string, have *setState, want map[string]string, zset bool) ([]write, int) {
	if have != nil && (have.wrongType || len(want) == 0) {
		out := []write{{key: name, del: true}}
		if len(want) > 0 {
			more, n := diffSet(name, nil, want, zset)
			return append(out, more...), n + 1
		}
		return out, 1
	}
	var out []write
	var rem []string
	if have != nil {
		for k := range have.members {
			if _, ok := want[k]; !ok {
				rem = append(rem, k)
			}
		}
	}
	remCmd, addCmd := "SREM", "SADD"
	if zset {
		remCmd, addCmd = "ZREM", "ZADD"
	}
	for start := 0; start < len(rem); start += 1000 {
		out = append(out, cmdWrite(name, append([]string{remCmd}, rem[start:min(start+1000, len(rem))]...)...))
	}
	n := len(rem)
	add := []string{addCmd}
	for k, s := range want {
		if have != nil {
			if got, ok := have.members[k]; ok {
				if !zset {
					continue
				}
				if f, err := strconv.ParseFloat(s, 64); err == nil && f == got {
					continue
				}
			}
		}
		if zset {
			add = append(add, s)
		}
		add = append(add, k)
		n++
		if len(add) > 2000 {
			out = append(out, cmdWrite(name, add...))
			add = []string{addCmd}
		}
	}
	if len(add) > 1 {
		out = append(out, cmdWrite(name, add...))
	}
	return out, n
}

// readSets reads sets (or sorted sets, with scores) by name.
func (s *store) readSets(ctx context.Context, names []string, zset bool) (_ []*setState, err error) {
	defer func() { err = redisErr(err) }()
	pipe := s.rdb.Pipeline()
	types := make([]*redis.StatusCmd, len(names))
	for i, n := range names {
		types[i] = pipe.Type(ctx, n)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("error reading index sets from Redis: %w", err)
	}
	out := make([]*setState, len(names))
	smem := make([]*redis.StringSliceCmd, len(names))
	zmem := make([]*redis.ZSliceCmd, len(names))
	pipe = s.rdb.Pipeline()
	for i, n := range names {
		switch typ := types[i].Val(); {
		case typ == "none":
		case typ == "set" && !zset:
			smem[i] = pipe.SMembers(ctx, n)
		case typ == "zset" && zset:
			zmem[i] = pipe.ZRangeWithScores(ctx, n, 0, -1)
		default:
			out[i] = &setState{wrongType: true}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return nil, fmt.Errorf("error reading index sets from Redis: %w", err)
	}
	for i := range names {
		switch {
		case smem[i] != nil:
			st := &setState{members: map[string]float64{}}
			for _, m := range smem[i].Val() {
				st.members[m] = 0
			}
			out[i] = st
		case zmem[i] != nil:
			st := &setState{members: map[string]float64{}}
			for _, z := range zmem[i].Val() {
				k, _ := z.Member.(string)
				st.members[k] = z.Score
			}
			out[i] = st
		}
	}
	return out, nil
}

// truncateIndexes deletes the table's index sets and companion records
// (a TRUNCATE): the keys' deletes took most of them out already, this
// catches those of keys that expired or were evicted.
func truncateIndexes(ctx context.Context, st mirror, prefix string, t *table) error {
	for _, x := range t.Indexes {
		err := st.scan(ctx, x.Template.Glob(), func(found []string) error {
			var dels []write
			for _, n := range found {
				if x.Template.Matches(n) {
					dels = append(dels, write{key: n, del: true})
				}
			}
			return st.apply(ctx, dels)
		})
		if err != nil {
			return err
		}
	}
	glob := spec.Template{Parts: []string{prefix + "ix:"}}.Glob() + "*"
	return st.scan(ctx, glob, func(found []string) error {
		var dels []write
		for _, n := range found {
			if _, k, ok := companionOf(prefix, n); ok && t.Key.Matches(k) {
				dels = append(dels, write{key: n, del: true})
			}
		}
		return st.apply(ctx, dels)
	})
}
