package pgredistest

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// expectIndexes adds the index= sets of table t to exp, from PostgreSQL
// alone: for each row in the mirror (filter is where= and expire_at=),
// the template's placeholders' ::text and the score column read as a
// float8 (time columns as extract(epoch)); a NULL placeholder or a NULL
// or NaN score puts the row in no set of that index.
func expectIndexes(ctx context.Context, conn *pgxpool.Conn, t notify.Table, filter string, exp *Expected) error {
	for _, x := range t.Indexes {
		score := "NULL::float8"
		if x.Score != "" {
			var typ string
			if err := conn.QueryRow(ctx, `SELECT format_type(atttypid, NULL) FROM pg_attribute WHERE attrelid = $1::regclass AND attname = $2`, t.Ident(), x.Score).Scan(&typ); err != nil {
				return err
			}
			c := "r." + spec.QuoteIdent(x.Score)
			if strings.HasPrefix(typ, "timestamp") || typ == "date" {
				score = "extract(epoch FROM " + c + ")::float8"
			} else {
				score = c + "::float8"
			}
		}
		cols := append(t.Key.Columns(), x.Template.Columns()...)
		rows, err := conn.Query(ctx, fmt.Sprintf("SELECT %s, %s FROM %s r%s", score, textCols(cols), t.Ident(), filter))
		if err != nil {
			return err
		}
		for rows.Next() {
			var sc *float64
			vals := make([]*string, len(cols))
			dest := []any{&sc}
			for i := range vals {
				dest = append(dest, &vals[i])
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return err
			}
			strs := make([]string, len(vals))
			null := false
			for i, v := range vals {
				if v == nil {
					null = true
				} else {
					strs[i] = *v
				}
			}
			nk := len(t.Key.Columns())
			if null || (x.Score != "" && (sc == nil || math.IsNaN(*sc))) {
				continue
			}
			key, name := t.Key.Render(strs[:nk]), x.Template.Render(strs[nk:])
			if x.Score == "" {
				if exp.Sets[name] == nil {
					exp.Sets[name] = map[string]bool{}
				}
				exp.Sets[name][key] = true
				continue
			}
			if exp.ZSets[name] == nil {
				exp.ZSets[name] = map[string]float64{}
			}
			exp.ZSets[name][key] = *sc
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// diffIndex compares index name k in Redis with the expected set; ok is
// false when k is no expected index set.
func diffIndex(ctx context.Context, rdb redis.UniversalClient, exp Expected, k string) (problem string, ok bool) {
	if want, isSet := exp.Sets[k]; isSet {
		got, err := rdb.SMembers(ctx, k).Result()
		if err != nil {
			return fmt.Sprintf("index set %s: %v", k, err), true
		}
		slices.Sort(got)
		if w := slices.Sorted(maps.Keys(want)); !slices.Equal(got, w) {
			return fmt.Sprintf("index set %s = %q, want %q", k, got, w), true
		}
		return "", true
	}
	if want, isZSet := exp.ZSets[k]; isZSet {
		got, err := rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		if err != nil {
			return fmt.Sprintf("index sorted set %s: %v", k, err), true
		}
		have := map[string]float64{}
		for _, z := range got {
			have[z.Member.(string)] = z.Score
		}
		if !maps.Equal(have, want) {
			return fmt.Sprintf("index sorted set %s = %v, want %v", k, have, want), true
		}
		return "", true
	}
	return "", false
}

// diffCompanions checks pgredis's companion records of indexed keys
// (worker/index.go), <prefix>ix:ID:{TAG}KEY: one per key that is in a
// set, holding exactly its sets (and scores); no other.
func diffCompanions(ctx context.Context, rdb redis.UniversalClient, exp Expected, keys []string) []string {
	want := map[string]map[string]string{}
	for name, members := range exp.Sets {
		for k := range members {
			if want[k] == nil {
				want[k] = map[string]string{}
			}
			want[k][name] = ""
		}
	}
	for name, members := range exp.ZSets {
		for k, s := range members {
			if want[k] == nil {
				want[k] = map[string]string{}
			}
			want[k][name] = strconv.FormatFloat(s, 'g', -1, 64)
		}
	}
	var problems []string
	seen := map[string]bool{}
	for _, c := range keys {
		rest, ok := strings.CutPrefix(c, StatePrefix+"ix:")
		if !ok {
			continue
		}
		_, rest, ok = strings.Cut(rest, ":{")
		i := strings.IndexByte(rest, '}')
		if !ok || i < 0 {
			problems = append(problems, fmt.Sprintf("malformed companion record %q", c))
			continue
		}
		k := rest[i+1:]
		if seen[k] {
			problems = append(problems, fmt.Sprintf("more than one companion record of %q", k))
		}
		seen[k] = true
		got, err := rdb.HGetAll(ctx, c).Result()
		if err != nil {
			problems = append(problems, fmt.Sprintf("companion %s: %v", c, err))
			continue
		}
		for name, s := range got {
			if s == "" {
				continue
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				problems = append(problems, fmt.Sprintf("companion %s: score %q of %s", c, s, name))
				continue
			}
			got[name] = strconv.FormatFloat(f, 'g', -1, 64)
		}
		if !maps.Equal(got, want[k]) {
			problems = append(problems, fmt.Sprintf("companion record %s = %v, want %v", c, got, want[k]))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !seen[k] {
			problems = append(problems, fmt.Sprintf("missing companion record of %q", k))
		}
	}
	return problems
}
