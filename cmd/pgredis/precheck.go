package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/redis/go-redis/v9"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

// precheck runs, before worker or resync start, the checks whose failure
// the user must fix first, in that order: PostgreSQL answers; every
// configured table that migrate up has not installed exactly so fits
// the catalog (a mistyped name is reported as such, not as that table's
// missing trigger); the key templates cannot collide; Redis answers. The
// worker then checks the installed triggers against the configuration.
//
// A table installed as configured that no longer fits the catalog (a
// column dropped since) is no reason to stop: the worker keeps the other
// tables live and reports it. precheck returns such tables with the
// reason, for resync to report instead of the SQL error that reading
// the table would give.
func precheck(ctx context.Context, e *env, specs []spec.Table, rdb redis.UniversalClient) (unfit map[string]string, err error) {
	conn, err := e.connectPG(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	installed, err := notify.LoadInstalled(ctx, conn)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42501" { // insufficient_privilege
		return nil, fmt.Errorf("this role (%s) may not read pgredis's registry: %s; as the role that ran pgredis migrate up, GRANT USAGE ON SCHEMA pgredis TO it and GRANT SELECT ON ALL TABLES IN SCHEMA pgredis TO it (docs/deployment.md: Managed PostgreSQL)", conn.Config().User, pe.Message)
	}
	if err != nil {
		return nil, err
	}
	unfit = map[string]string{}
	var keys []notify.Table
	for _, st := range specs {
		var in *notify.Installed
		for i := range installed {
			if installed[i].Table.ID() != st.ID() {
				continue
			}
			// Meaning, not spelling, as the worker compares them.
			same, err := notify.SameSpec(ctx, conn, st, installed[i])
			if err != nil {
				return nil, err
			}
			if same {
				in = &installed[i]
			}
		}
		if in == nil {
			resolved, err := notify.Resolve(ctx, conn, []spec.Table{st}, "")
			if err != nil {
				return nil, err
			}
			keys = append(keys, resolved[0])
			continue
		}
		keys = append(keys, notify.Table{Table: st, Key: in.Key})
		if _, err := notify.Resolve(ctx, conn, []spec.Table{in.Table}, ""); err != nil {
			unfit[st.String()] = err.Error()
		}
	}
	if err := notify.CheckOverlaps(keys, e.StatePrefix); err != nil {
		return nil, err
	}
	if err := e.pingRedis(ctx, rdb); err != nil {
		return nil, err
	}
	return unfit, nil
}

// quietShape drops the worker's "no longer fits its spec" and "table
// quarantined" log lines: resync reports each such table once, in its
// output, with the reason in the catalog's words.
type quietShape struct{ slog.Handler }

func (h quietShape) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError && (strings.Contains(r.Message, "no longer fits its spec") || strings.HasPrefix(r.Message, "table quarantined")) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h quietShape) WithAttrs(as []slog.Attr) slog.Handler {
	return quietShape{h.Handler.WithAttrs(as)}
}

func (h quietShape) WithGroup(name string) slog.Handler { return quietShape{h.Handler.WithGroup(name)} }
