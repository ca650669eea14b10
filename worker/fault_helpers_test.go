package worker_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgredis/pgredis/internal/pgredistest"
	"github.com/pgredis/pgredis/internal/testenv"
	"github.com/pgredis/pgredis/notify"
)

// faultDDL is the table the fault tests write to while they inject faults.
const faultDDL = `
CREATE TABLE acct (id int PRIMARY KEY, v int NOT NULL DEFAULT 0, note text);
INSERT INTO acct SELECT g, 0, 'n' || g FROM generate_series(1, 200) g`

const faultTables = "acct"

// writer keeps committing inserts, updates (single and multi-row, key
// changes), deletes and multi-statement transactions until stopped. It
// rides out errors (a terminated session, a restarting server), since the
// faults hit it too.
type writer struct {
	cancel  context.CancelFunc
	done    chan struct{}
	commits atomic.Int64
	errors  atomic.Int64
}

func startWriter(t testing.TB, b *pgredistest.Bundle) *writer {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(b.DatabaseURL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 2
	cfg.ConnConfig.RuntimeParams["application_name"] = "test writer"
	ctx, cancel := context.WithCancel(context.Background())
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := &writer{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		defer pool.Close()
		for ctx.Err() == nil {
			id := 1 + rand.IntN(300)
			var sql string
			switch rand.IntN(10) {
			case 0, 1, 2:
				sql = fmt.Sprintf(`INSERT INTO acct VALUES (%d, 1, md5(random()::text)) ON CONFLICT (id) DO UPDATE SET v = acct.v + 1, note = excluded.note`, id)
			case 3, 4:
				sql = fmt.Sprintf(`UPDATE acct SET v = v + 1 WHERE id %% 13 = %d`, id%13)
			case 5:
				sql = fmt.Sprintf(`DELETE FROM acct WHERE id = %d`, id)
			case 6:
				sql = fmt.Sprintf(`UPDATE acct SET id = id + 300 WHERE id = %d AND NOT EXISTS (SELECT 1 FROM acct WHERE id = %d)`, id, id+300)
			case 7:
				sql = fmt.Sprintf(`DELETE FROM acct WHERE id > 300 AND id %% 5 = %d`, id%5)
			default:
				sql = fmt.Sprintf(`BEGIN; UPDATE acct SET note = 'x' || v WHERE id = %d; UPDATE acct SET v = v * 2, note = NULL WHERE id = %d; COMMIT`, id, 1+rand.IntN(300))
			}
			if _, err := pool.Exec(ctx, sql); err != nil {
				w.errors.Add(1)
				// A fault is being injected: do not hammer the server.
				select {
				case <-ctx.Done():
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			w.commits.Add(1)
			// Leave the two cores some air: a steady stream, not a flood.
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(w.stop)
	return w
}

func (w *writer) stop() {
	w.cancel()
	<-w.done
}

// waitCommits waits until the writer committed n more transactions.
func (w *writer) waitCommits(t testing.TB, n int64) {
	t.Helper()
	target := w.commits.Load() + n
	testenv.Eventually(t, 30*time.Second, func() error {
		if c := w.commits.Load(); c < target {
			return fmt.Errorf("writer at %d commits, want %d", c, target)
		}
		return nil
	})
}

// convergeTime stops the writer and measures how long the mirror takes to
// become exact.
func convergeTime(t testing.TB, b *pgredistest.Bundle, w *writer) time.Duration {
	t.Helper()
	w.stop()
	start := time.Now()
	b.WaitMirror(t, 30*time.Second)
	d := time.Since(start)
	t.Logf("writer committed %d transactions (%d failed); mirror exact %v after the writes stopped", w.commits.Load(), w.errors.Load(), d.Round(time.Millisecond))
	return d
}

// workerProc is a real `pgredis worker` process.
type workerProc struct {
	cmd  *exec.Cmd
	logs *pgredistest.Logs
	done chan struct{}
	exit time.Time
}

// startWorkerProc runs the pgredis binary as a worker on the bundle, with
// the test timings of b.Config.
func startWorkerProc(t testing.TB, b *pgredistest.Bundle, env ...string) *workerProc {
	t.Helper()
	bin := testenv.Binary(t, "github.com/pgredis/pgredis/cmd/pgredis")
	_, logs := pgredistest.CaptureLogs(t)
	cmd := exec.Command(bin, "worker")
	cmd.Env = append(os.Environ(),
		"DATABASE_URL="+b.DatabaseURL,
		"REDIS_URL="+b.RedisURL,
		"PGREDIS_TABLES="+b.Tables,
		"PGREDIS_STATE_PREFIX="+pgredistest.StatePrefix,
		"PGREDIS_STANDBY_POLL=100ms",
		"PGREDIS_CHECK_INTERVAL=100ms",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr, cmd.Stdout = logs, logs
	// The worker dies with the test process, whatever happens to it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &workerProc{cmd: cmd, logs: logs, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		p.exit = time.Now()
		close(p.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *workerProc) signal(t testing.TB, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *workerProc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("worker pid %d did not exit within %v", p.cmd.Process.Pid, timeout)
		return -1
	}
}

// activeWorkerPID is the OS pid of the pgredis worker process holding the
// lock (from its application_name), 0 when none holds it.
func activeWorkerPID(ctx context.Context, b *pgredistest.Bundle) (int, error) {
	info, ok, err := notify.ActiveWorker(ctx, b.PG)
	if err != nil || !ok {
		return 0, err
	}
	f := strings.Fields(info.ApplicationName)
	if len(f) == 0 {
		return 0, errors.New("lock holder has no application name")
	}
	return strconv.Atoi(f[len(f)-1])
}

// waitActiveProc waits until the process holds the worker lock.
func waitActiveProc(t testing.TB, b *pgredistest.Bundle, p *workerProc, timeout time.Duration) {
	t.Helper()
	testenv.Eventually(t, timeout, func() error {
		pid, err := activeWorkerPID(context.Background(), b)
		if err != nil {
			return err
		}
		if pid != p.cmd.Process.Pid {
			return fmt.Errorf("lock held by pid %d, want %d", pid, p.cmd.Process.Pid)
		}
		return nil
	})
}

// lockHolders counts the sessions holding the worker lock.
func lockHolders(t testing.TB, b *pgredistest.Bundle) int {
	t.Helper()
	var n int
	err := b.PG.QueryRow(context.Background(), `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`, notify.LockKey).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

var muMeasure sync.Mutex

// measured logs a figure in a greppable form for docs/guarantees.md.
func measured(t testing.TB, what string, d time.Duration) {
	muMeasure.Lock()
	defer muMeasure.Unlock()
	t.Logf("MEASURED %s: %v", what, d.Round(time.Millisecond))
}

// bundleAt is pgredistest.New on the given servers: an empty databaseURL
// takes a fresh migrated database on the shared server, an empty redisURL
// a Redis database of the shared server.
func bundleAt(t testing.TB, databaseURL, redisURL string) *pgredistest.Bundle {
	t.Helper()
	if databaseURL == "" {
		databaseURL = testenv.Database(t, "migrated", pgredistest.Migrate)
	}
	if redisURL == "" {
		redisURL = testenv.Redis(t)
	}
	b := pgredistest.Open(t, databaseURL, redisURL, "")
	b.Exec(t, faultDDL)
	b.Install(t, faultTables)
	return b
}

// activeStandbyWriter starts an active worker process, a standby process
// and a writer that has committed 100 times: the scene of every takeover
// test.
func activeStandbyWriter(t testing.TB) (*pgredistest.Bundle, *workerProc, *workerProc, *writer) {
	b := pgredistest.New(t, faultDDL, faultTables)
	a := startWorkerProc(t, b)
	waitActiveProc(t, b, a, 20*time.Second)
	s := startWorkerProc(t, b)
	s.logs.Wait(t, 20*time.Second, "standing by")
	w := startWriter(t, b)
	w.waitCommits(t, 100)
	return b, a, s, w
}

// startLogged starts an in-process worker whose log lines the test can
// wait for and count.
func startLogged(t testing.TB, b *pgredistest.Bundle) *pgredistest.Logs {
	cfg := b.Config(t)
	var logs *pgredistest.Logs
	cfg.Logger, logs = pgredistest.CaptureLogs(t)
	b.StartWorkerWith(t, cfg)
	return logs
}

// migratedDB creates database name on a private server and runs pgredis's
// migrations in it.
func migratedDB(t *testing.T, pg *testenv.PostgresServer, name string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pgredistest.Migrate(ctx, pg.URL(name)); err != nil {
		t.Fatal(err)
	}
}
