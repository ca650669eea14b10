package worker_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
	"github.com/pgredis/pgredis/worker"
)

// withEventTrigger runs f with the event trigger migration 3 installs (the
// tests run as a superuser) and without it, as when migrate up's role is
// no superuser and the worker's periodic check must do its work.
func withEventTrigger(t *testing.T, f func(t *testing.T, event bool)) {
	for _, event := range []bool{true, false} {
		t.Run(fmt.Sprintf("event_trigger=%v", event), func(t *testing.T) {
			t.Parallel()
			f(t, event)
		})
	}
}

func dropEventTrigger(t *testing.T, b *pgredistest.Bundle) {
	t.Helper()
	var n int
	if err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pg_event_trigger WHERE evtname LIKE 'pgredis%'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("pgredis event triggers: count %d, %v; want 2", n, err)
	}
	b.Exec(t, "DROP EVENT TRIGGER pgredis_ddl; DROP EVENT TRIGGER pgredis_drop")
}

// startFast starts a worker that runs its periodic checks every 200ms
// (every tenth heartbeat) and waits until it listens.
func startFast(t *testing.T, b *pgredistest.Bundle, mutate func(*worker.Config)) *worker.Worker {
	t.Helper()
	cfg := b.Config(t)
	cfg.HeartbeatInterval = 20 * time.Millisecond
	cfg.HeartbeatTimeout = time.Minute
	if mutate != nil {
		mutate(&cfg)
	}
	w := b.StartWorkerWith(t, cfg)
	testenv.Eventually(t, converge, func() error {
		if !w.Active() {
			return errors.New("worker not active yet")
		}
		return nil
	})
	return w
}

// A synced partitioned table is synced whole: statements on the parent,
// on a partition and on a sub-partition, rows moving across partitions,
// TRUNCATE of a partition, replica-role writes, and partitions created,
// attached (with rows) and detached (rows leave) later, all without
// operator action.
func TestPartitionedTable(t *testing.T) {
	withEventTrigger(t, func(t *testing.T, event bool) {
		b := pgredistest.New(t, `
CREATE TABLE orders (id int, region text, v text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
CREATE TABLE orders_eu PARTITION OF orders FOR VALUES IN ('eu');
CREATE TABLE orders_us PARTITION OF orders FOR VALUES IN ('us') PARTITION BY RANGE (id);
CREATE TABLE orders_us_lo PARTITION OF orders_us FOR VALUES FROM (MINVALUE) TO (100);
CREATE TABLE orders_us_hi PARTITION OF orders_us FOR VALUES FROM (100) TO (MAXVALUE);
INSERT INTO orders VALUES (1, 'eu', 'a'), (2, 'us', 'b');`, "orders")
		// migrate up put them on every partition, before any worker runs.
		for _, rel := range []string{"orders", "orders_eu", "orders_us", "orders_us_lo", "orders_us_hi"} {
			if n, err := triggerCount(b, rel); err != nil || n != 4 {
				t.Fatalf("%s has %d pgredis triggers firing always (%v), want 4", rel, n, err)
			}
		}
		if !event {
			dropEventTrigger(t, b)
		}
		startFast(t, b, nil)
		b.WaitMirror(t, converge)
		steps := []string{
			`INSERT INTO orders VALUES (3, 'eu', 'c'), (150, 'us', 'd')`,
			`INSERT INTO orders_eu VALUES (4, 'eu', 'direct')`,
			`INSERT INTO orders_us_lo VALUES (5, 'us', 'sub')`,
			`UPDATE orders SET region = 'us' WHERE id = 3`,                 // across partitions, key changes
			`UPDATE orders_us SET id = id + 200, v = 'moved' WHERE id = 5`, // across sub-partitions
			`UPDATE orders_eu SET v = v || '!'`,
			`DELETE FROM orders_us_hi WHERE id = 150`,
			`SET session_replication_role = replica; INSERT INTO orders_eu VALUES (6, 'eu', 'replica'); UPDATE orders SET v = 'r' WHERE id = 2; RESET session_replication_role`,
			`TRUNCATE orders_eu`,
		}
		for _, s := range steps {
			b.Exec(t, s)
			b.WaitMirror(t, converge)
		}
		// A partition created later, written directly.
		b.Exec(t, `CREATE TABLE orders_ap PARTITION OF orders FOR VALUES IN ('ap')`)
		if !event {
			waitTriggers(t, b, "orders_ap")
		}
		b.Exec(t, `INSERT INTO orders_ap VALUES (7, 'ap', 'new'); INSERT INTO orders VALUES (8, 'ap', 'via parent')`)
		b.WaitMirror(t, converge)
		// Attached with rows: they join the mirror.
		b.Exec(t, `CREATE TABLE orders_sa (LIKE orders); INSERT INTO orders_sa VALUES (9, 'sa', 'x'), (10, 'sa', 'y');
			ALTER TABLE orders ATTACH PARTITION orders_sa FOR VALUES IN ('sa')`)
		b.WaitMirror(t, converge)
		if !event {
			waitTriggers(t, b, "orders_sa")
		}
		b.Exec(t, `UPDATE orders_sa SET v = 'attached'`)
		b.WaitMirror(t, converge)
		// Detached: its rows leave, and its writes stay out.
		b.Exec(t, `ALTER TABLE orders DETACH PARTITION orders_ap`)
		b.WaitMirror(t, converge)
		if !event {
			testenv.Eventually(t, converge, func() error {
				n, err := triggerCount(b, "orders_ap")
				if err == nil && n != 0 {
					err = fmt.Errorf("detached orders_ap still has %d pgredis triggers", n)
				}
				return err
			})
		}
		b.Exec(t, `INSERT INTO orders_ap VALUES (11, 'ap', 'outside'); UPDATE orders SET v = 'after'`)
		b.WaitMirror(t, converge)
		if event {
			// Dropped: its rows leave (without the event trigger, at the
			// next resync).
			b.Exec(t, `DROP TABLE orders_sa; DROP TABLE orders_us_lo`)
			b.WaitMirror(t, converge)
		}
	})
}

func triggerCount(b *pgredistest.Bundle, rel string) (int, error) {
	var n int
	err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname LIKE 'pgredis\_%' AND tgenabled = 'A'`, rel).Scan(&n)
	return n, err
}

// waitTriggers waits until the worker's periodic check put the four
// triggers on rel (without the event trigger, writes before that are
// repaired by the reconcile that follows).
func waitTriggers(t *testing.T, b *pgredistest.Bundle, rel string) {
	t.Helper()
	testenv.Eventually(t, converge, func() error {
		n, err := triggerCount(b, rel)
		if err == nil && n != 4 {
			err = fmt.Errorf("%s has %d pgredis triggers firing always, want 4", rel, n)
		}
		return err
	})
}

// Inheritance children are synced whole, as SELECT FROM the parent shows
// them (the parent's columns): statements on the parent and on the
// children, a child with columns of its own, TRUNCATE ONLY of the parent
// and TRUNCATE of a child.
func TestInheritanceChildren(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `
CREATE TABLE animals (id int PRIMARY KEY, name text);
CREATE TABLE cats () INHERITS (animals);
CREATE TABLE dogs (breed text) INHERITS (animals);
CREATE TABLE pets (id int PRIMARY KEY, name text);
CREATE TABLE pet_cats () INHERITS (pets);
CREATE TABLE pet_dogs (breed text) INHERITS (pets);
INSERT INTO pets VALUES (1, $$generic$$);
INSERT INTO pet_cats VALUES (2, $$tom$$);
INSERT INTO pet_dogs VALUES (3, $$rex$$, $$lab$$);
INSERT INTO animals VALUES (1, 'generic');
INSERT INTO cats VALUES (2, 'tom');
INSERT INTO dogs VALUES (3, 'rex', 'lab');`, "animals; pets format=hash")
	startFast(t, b, nil)
	b.WaitMirror(t, converge)
	for _, s := range []string{
		`INSERT INTO cats VALUES (4, 'felix')`,
		`INSERT INTO dogs VALUES (5, 'fido', 'pug')`,
		`UPDATE animals SET name = upper(name)`,
		`UPDATE dogs SET breed = 'mutt', name = 'REX2' WHERE id = 3`,
		`DELETE FROM cats WHERE id = 2`,
		`TRUNCATE ONLY animals`,
		`CREATE TABLE birds () INHERITS (animals); INSERT INTO birds VALUES (6, 'tweety')`,
		`TRUNCATE cats`,
		`DELETE FROM animals WHERE id = 5`,
		// A child that leaves: its rows leave the mirror, its writes stay out.
		`ALTER TABLE dogs NO INHERIT animals`,
		`INSERT INTO dogs VALUES (8, 'outside', 'x'); UPDATE animals SET name = name || '.'`,
	} {
		pets := strings.NewReplacer("animals", "pets", "cats", "pet_cats", "dogs", "pet_dogs", "birds", "pet_birds").Replace(s)
		b.Exec(t, s)
		b.Exec(t, pets)
		b.WaitMirror(t, converge)
	}
}

// Writes in a session with session_replication_role = replica (as logical
// replication apply runs) are mirrored: the triggers fire ALWAYS.
func TestReplicaRoleWrites(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `CREATE TABLE kv (id int PRIMARY KEY, v text); CREATE TABLE kvh (id int PRIMARY KEY, v text)`, "kv; kvh format=hash")
	// migrate up installs them ALWAYS (the worker's check would otherwise
	// repair them later, and reconcile what they missed).
	for _, rel := range []string{"kv", "kvh"} {
		if n, err := triggerCount(b, rel); err != nil || n != 4 {
			t.Fatalf("%s has %d pgredis triggers firing always (%v), want 4", rel, n, err)
		}
	}
	startListening(t, b)
	b.Exec(t, `SET session_replication_role = replica;
INSERT INTO kv SELECT g, 'v' || g FROM generate_series(1, 20) g;
UPDATE kv SET v = v || '!' WHERE id < 10;
DELETE FROM kv WHERE id > 15;
INSERT INTO kvh SELECT g, 'v' || g FROM generate_series(1, 20) g;
UPDATE kvh SET v = v || '!' WHERE id < 10;
DELETE FROM kvh WHERE id > 15;
RESET session_replication_role`)
	b.WaitMirror(t, converge)
	b.Exec(t, `SET session_replication_role = replica; TRUNCATE kv, kvh; INSERT INTO kv VALUES (1, 'after'); INSERT INTO kvh VALUES (2, 'after'); RESET session_replication_role`)
	b.WaitMirror(t, converge)
}

// A disabled trigger is noticed (readiness, the metric, the log) and, once
// it is enabled again, the writes it missed are repaired without operator
// action: at once through the event trigger, or at the next check.
func TestDisabledTrigger(t *testing.T) {
	withEventTrigger(t, func(t *testing.T, event bool) {
		b := pgredistest.New(t, `CREATE TABLE kv (id int PRIMARY KEY, v text); INSERT INTO kv VALUES (1, 'a')`, "kv")
		if !event {
			dropEventTrigger(t, b)
		}
		reg := prometheus.NewRegistry()
		var logs *pgredistest.Logs
		w := startFast(t, b, func(c *worker.Config) {
			c.Metrics = worker.NewMetrics(reg)
			c.Logger, logs = pgredistest.CaptureLogs(t)
		})
		b.WaitMirror(t, converge)
		b.Exec(t, `ALTER TABLE kv DISABLE TRIGGER pgredis_ins, DISABLE TRIGGER pgredis_upd`)
		b.Exec(t, `INSERT INTO kv VALUES (2, 'missed'); UPDATE kv SET v = 'missed too' WHERE id = 1`)
		testenv.Eventually(t, converge, func() error {
			err := w.Ready()
			if err == nil || !strings.Contains(err.Error(), "pgredis_ins on kv is disabled") {
				return fmt.Errorf("readiness: %v", err)
			}
			return nil
		})
		logs.Wait(t, converge, "not captured as installed", "table=public.kv", "disabled")
		if v := gauge(t, reg, "pgredis_table_unfit", "public.kv"); v != 1 {
			t.Fatalf("pgredis_table_unfit{table=public.kv} = %v, want 1", v)
		}
		// (The event trigger asks for a reconcile on the DISABLE itself,
		// which may see the writes.)
		if err := b.Diff(context.Background()); err == nil && !event {
			t.Fatal("the mirror has the writes made while the trigger was disabled")
		}
		// ENABLE ALWAYS directly, and plain ENABLE (which pgredis makes ALWAYS).
		b.Exec(t, `ALTER TABLE kv ENABLE ALWAYS TRIGGER pgredis_ins, ENABLE TRIGGER pgredis_upd`)
		b.WaitMirror(t, converge)
		testenv.Eventually(t, converge, func() error { return w.Ready() })
		if n, err := triggerCount(b, "kv"); err != nil || n != 4 {
			t.Fatalf("kv has %d pgredis triggers firing always (%v), want 4", n, err)
		}
		b.Exec(t, `SET session_replication_role = replica; UPDATE kv SET v = 'replica'; RESET session_replication_role`)
		b.WaitMirror(t, converge)
	})
}

func gauge(t *testing.T, reg *prometheus.Registry, name, table string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "table" && l.GetValue() == table {
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	return 0
}

// A table swapped in by renames (as online schema-change tools do) is
// synced in place of the old one at once through the event trigger.
// Without it, the worker reports it, naming the table that still drives
// the keys and the fix (migrate up), which repairs it.
func TestRenameSwap(t *testing.T) {
	withEventTrigger(t, func(t *testing.T, event bool) {
		b := pgredistest.New(t, `
CREATE TABLE items (id int PRIMARY KEY, v text);
INSERT INTO items SELECT g, 'old' || g FROM generate_series(1, 5) g;
CREATE TABLE items_new (id int PRIMARY KEY, v text, extra int DEFAULT 1);
INSERT INTO items_new SELECT g, 'new' || g FROM generate_series(3, 8) g;`, "items")
		if !event {
			dropEventTrigger(t, b)
		}
		var logs *pgredistest.Logs
		w := startFast(t, b, func(c *worker.Config) { c.Logger, logs = pgredistest.CaptureLogs(t) })
		b.WaitMirror(t, converge)
		b.Exec(t, `BEGIN; ALTER TABLE items RENAME TO items_old; ALTER TABLE items_new RENAME TO items; COMMIT`)
		if !event {
			testenv.Eventually(t, converge, func() error {
				err := w.Ready()
				if err == nil || !strings.Contains(err.Error(), "items_old carries its trigger") || !strings.Contains(err.Error(), "pgredis migrate up") {
					return fmt.Errorf("readiness: %v", err)
				}
				return nil
			})
			logs.Wait(t, converge, "not captured as installed", "table=public.items", "items_old carries its trigger")
			// The fix it names; the worker restarts on it, as after any
			// migrate up.
			_ = w.Stop(context.Background())
			b.Install(t, b.Tables)
			startFast(t, b, nil)
		}
		b.WaitMirror(t, converge)
		b.Exec(t, `INSERT INTO items VALUES (9, 'newer'); UPDATE items SET extra = 2; INSERT INTO items_old VALUES (10, 'gone')`)
		b.WaitMirror(t, converge)
	})
}

// Columns retyped or added are followed without operator action, values
// staying what PostgreSQL renders for the current type: int -> text with
// columns= JSON and a leading zero, varchar(10) -> text and int -> bigint
// key columns of rows too large for a notification (the fetch path), and
// a column added (format=hash and format=json: every row shows it).
func TestColumnsRetypedAndAdded(t *testing.T) {
	withEventTrigger(t, func(t *testing.T, event bool) {
		b := pgredistest.New(t, `
CREATE TABLE zips (id int PRIMARY KEY, zip int, city text);
INSERT INTO zips VALUES (1, 2134, 'boston');
CREATE TABLE vk (k varchar(10) PRIMARY KEY, body text);
INSERT INTO vk VALUES ('short', repeat('a', 9000));
CREATE TABLE ik (id int PRIMARY KEY, body text);
INSERT INTO ik VALUES (1, repeat('b', 9000));
CREATE TABLE hh (id int PRIMARY KEY, a text);
CREATE TABLE jj (id int PRIMARY KEY, a text);
INSERT INTO hh SELECT g, 'a' || g FROM generate_series(1, 5) g;
INSERT INTO jj SELECT g, 'a' || g FROM generate_series(1, 5) g;`,
			"zips columns=id,zip; vk; ik; hh format=hash; jj")
		if !event {
			dropEventTrigger(t, b)
		}
		w := startFast(t, b, nil)
		b.WaitMirror(t, converge)
		b.Exec(t, `ALTER TABLE zips ALTER COLUMN zip TYPE text USING lpad(zip::text, 5, '0')`)
		b.Exec(t, `ALTER TABLE vk ALTER COLUMN k TYPE text`)
		b.Exec(t, `ALTER TABLE ik ALTER COLUMN id TYPE bigint`)
		b.Exec(t, `ALTER TABLE hh ADD COLUMN b text DEFAULT 'dflt'; ALTER TABLE jj ADD COLUMN b int DEFAULT 7`)
		b.Exec(t, `
INSERT INTO zips VALUES (2, '02135', 'cambridge');
UPDATE zips SET city = 'BOSTON' WHERE id = 1;
INSERT INTO vk VALUES ('a key longer than ten', repeat('c', 9000));
UPDATE vk SET body = body || 'x';
INSERT INTO ik VALUES (5000000000, repeat('d', 9000));
UPDATE ik SET body = body || 'y';
UPDATE hh SET a = 'changed' WHERE id = 1;
INSERT INTO jj (id, a) VALUES (6, 'new');`)
		b.WaitMirror(t, converge)
		// Later writes use the regenerated functions: the live path renders
		// the new types too (still exact after a second round of writes).
		testenv.Eventually(t, converge, func() error {
			var stale int
			err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pgredis.shapes s WHERE s.shape <> pgredis.shape(format('%I.%I', s.schema_name, s.table_name)::regclass)`).Scan(&stale)
			if err == nil && stale > 0 {
				err = fmt.Errorf("%d tables still have stale trigger functions", stale)
			}
			return err
		})
		b.Exec(t, `
INSERT INTO zips VALUES (3, '00001', 'x');
INSERT INTO vk VALUES ('another long key', repeat('e', 9000));
INSERT INTO ik VALUES (6000000000, repeat('f', 9000));
INSERT INTO hh (id, a) VALUES (6, 'six');
UPDATE jj SET b = b + 1 WHERE id < 3;`)
		b.WaitMirror(t, converge)
		if err := w.Err(); err != nil {
			t.Fatalf("worker stopped: %v", err)
		}
		// Readiness follows the periodic catalog check, which may have
		// seen the functions stale just before they were regenerated: it
		// must clear by itself, without operator action.
		testenv.Eventually(t, converge, func() error { return w.Ready() })
	})
}

// When the worker cannot regenerate stale trigger functions (here
// because a migrate up holds its lock), it says so (readiness, the log)
// instead of waiting, and converges once it can, without operator action.
func TestRegenerateDeferred(t *testing.T) {
	t.Parallel()
	b := pgredistest.New(t, `CREATE TABLE zips (id int PRIMARY KEY, zip int); INSERT INTO zips VALUES (1, 2134)`, "zips columns=id,zip")
	dropEventTrigger(t, b)
	var logs *pgredistest.Logs
	w := startFast(t, b, func(c *worker.Config) { c.Logger, logs = pgredistest.CaptureLogs(t) })
	b.WaitMirror(t, converge)
	ctx := context.Background()
	conn, err := b.PG.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", notify.MigrateLockKey); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `ALTER TABLE zips ALTER COLUMN zip TYPE text USING lpad(zip::text, 5, '0')`)
	testenv.Eventually(t, converge, func() error {
		err := w.Ready()
		if err == nil || !strings.Contains(err.Error(), "columns changed since its trigger functions were generated") {
			return fmt.Errorf("readiness: %v", err)
		}
		return nil
	})
	logs.Wait(t, converge, "not captured as installed", "table=public.zips", "run pgredis migrate up")
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", notify.MigrateLockKey); err != nil {
		t.Fatal(err)
	}
	b.Exec(t, `INSERT INTO zips VALUES (2, '00002')`)
	b.WaitMirror(t, converge)
	testenv.Eventually(t, converge, func() error { return w.Ready() })
	b.Exec(t, `INSERT INTO zips VALUES (3, '00003')`)
	b.WaitMirror(t, converge)
}
