#!/bin/bash
# tps.sh ROUNDS SECS CLIENTS variants... : pgbench TPS of single-row UPDATEs (durable) per variant, rounds alternated; lock M held so queueing() returns true;
# the drained mark is reset before each variant, or a million statements in
# the writers' overflow bound sends them back to pg_notify
R=$1; T=$2; C=$3; shift 3
db="-h 127.0.0.1 -U root -d ladder"
psql $db -qc "ALTER TABLE t DISABLE TRIGGER pgredis_upd" 2>/dev/null
( psql $db -qc "select pg_advisory_lock(8099568234651022115); select pg_sleep(100000)" >/dev/null 2>&1 & echo $! > holder.pid )
sleep 1
echo '\set id random(1, 100000)
UPDATE t SET price = price + 1, qty = qty + 1 WHERE id = :id;' > upd.pgb
for r in $(seq 1 $R); do
  for v in "$@"; do
    psql $db -qc "DROP TRIGGER IF EXISTS lad_upd ON t" -c "TRUNCATE pgredis.queue" -c "SELECT setval('pgredis.queue_drained', (SELECT last_value FROM pgredis.seq))" -c "VACUUM t" -c "CHECKPOINT" >/dev/null 2>&1
    [ "$v" != none ] && psql $db -qc "CREATE TRIGGER lad_upd AFTER UPDATE ON t REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.v_$v()"
    tps=$(pgbench $db -n -M prepared -c $C -j 2 -T $T -f upd.pgb 2>/dev/null | grep -o 'tps = [0-9.]*' | awk '{print $3}')
    q=$(psql $db -tAc "select count(*) from pgredis.queue")
    echo "round $r $v $tps queued=$q"
  done
done
kill $(cat holder.pid); pkill -f "pg_sleep.100000" ; psql $db -qc "DROP TRIGGER IF EXISTS lad_upd ON t" -c "TRUNCATE pgredis.queue"
