package main

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/pgredis/pgredis/internal/spec"
	"github.com/pgredis/pgredis/notify"
)

func runStatus(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flags("status", "status", stdout)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	e, err := loadEnv()
	if err != nil {
		return err
	}
	pgcfg, err := e.pgConfig()
	if err != nil {
		return err
	}
	conn, err := connectPG(ctx, pgcfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	installed, err := notify.LoadInstalled(ctx, conn)
	if err != nil {
		return err
	}
	var names []spec.Table
	for _, in := range installed {
		names = append(names, in.Table)
	}
	if e.Tables != "" {
		configured, err := spec.Parse(e.Tables)
		if err != nil {
			return err
		}
		for _, c := range configured {
			if !slices.ContainsFunc(names, func(t spec.Table) bool { return t.String() == c.String() }) {
				names = append(names, c)
			}
		}
	}
	if len(names) == 0 {
		fmt.Fprintln(stdout, "no table is synced (run pgredis migrate up with PGREDIS_TABLES)")
	}
	for _, t := range names {
		n, err := notify.TriggersInstalled(ctx, conn, t)
		if err != nil {
			return err
		}
		state := "trigger installed"
		switch {
		case n == 0:
			state = "trigger NOT installed (run pgredis migrate up)"
		case n < len(notify.TriggerNames()):
			state = fmt.Sprintf("trigger partly installed (%d of %d; run pgredis migrate up)", n, len(notify.TriggerNames()))
		}
		specText := ""
		for _, in := range installed {
			if in.Table.String() == t.String() {
				specText = " key=" + in.Key.String() + " format=" + string(in.Format)
			}
		}
		fmt.Fprintf(stdout, "table %s: %s%s\n", t, state, specText)
	}
	info, ok, err := notify.ActiveWorker(ctx, conn)
	if err != nil {
		return err
	}
	if ok {
		fmt.Fprintf(stdout, "worker: active (%s, backend pid %d, from %s)\n", info.ApplicationName, info.PID, info.ClientAddr)
	} else {
		fmt.Fprintln(stdout, "worker: none active")
	}
	return nil
}
