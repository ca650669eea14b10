#!/bin/bash
# pin.sh BENCH-FLAGS... : runs pgredis-bench with PostgreSQL and pgbench on
# CPU 0 and the bench, the worker it starts and Redis on CPU 1, as if the
# worker and Redis had a machine of their own beside a 1-core database.
# Unsynced and no-op baselines run pinned the same way, so the ratios
# compare like with like. Restores both services to every CPU at the end.
set -u
cd "$(dirname "$0")/../../.."
go build -o /tmp/pgredis-bench ./cmd/pgredis-bench || exit 1
pin() { for p in "$@"; do taskset -a -p "$mask" "$p" >/dev/null 2>&1; done; }
mask=1 pin $(pgrep -x postgres)
mask=2 pin $(pgrep -x redis-server)
taskset 2 /tmp/pgredis-bench -pgredis bin/pgredis "$@" &
bench=$!
# pgbench is started by the bench (on CPU 1); move each one to CPU 0 as
# it appears, with the backends PostgreSQL forks for it (they inherit
# the postmaster's CPU 0).
while kill -0 $bench 2>/dev/null; do
	mask=1 pin $(pgrep -x pgbench)
	sleep 0.05
done
wait $bench; rc=$?
mask=3 pin $(pgrep -x postgres) $(pgrep -x redis-server)
exit $rc
