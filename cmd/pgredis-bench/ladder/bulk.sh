#!/bin/bash
# bulk.sh ROUNDS variants... : the bulk path's ladder on `make bench`'s wide
# table (100k rows, format=json): the time of one UPDATE of every row with
# each variant of the generated UPDATE trigger (bulk.py), rounds rotated,
# VACUUM before each. No worker runs, so the trigger notifies, as in the
# bench's wide figure.
set -eu
R=$1; shift
here=$(cd "$(dirname "$0")" && pwd)
db="-h 127.0.0.1 -U root -d bulkl"
psql -h 127.0.0.1 -U root -d postgres -qc "DROP DATABASE IF EXISTS bulkl" -c "CREATE DATABASE bulkl"
psql $db -qc "CREATE TABLE wide (id bigint PRIMARY KEY, name text NOT NULL, price numeric(12,2) NOT NULL, tags text[] NOT NULL, updated_at timestamptz NOT NULL)" \
	-c "INSERT INTO wide SELECT g, 'product ' || g, (g % 1000) + 0.99, ARRAY['tag' || (g % 7), 'tag' || (g % 11), 'x'], '2024-01-01'::timestamptz + g * interval '1 minute' FROM generate_series(1, 100000) g"
DATABASE_URL="postgres://root@127.0.0.1:5432/bulkl?sslmode=disable" PGREDIS_TABLES=wide "$here/../../../bin/pgredis" migrate up >/dev/null
psql $db -tAc "SELECT pg_get_functiondef(p.oid) FROM pg_proc p JOIN pg_namespace s ON s.oid = p.pronamespace WHERE s.nspname = 'pgredis' AND p.proname LIKE 't\_%\_upd'" > /tmp/bulk_upd.sql
python3 "$here/bulk.py" /tmp/bulk_upd.sql /tmp/bulk_variants.sql
psql $db -q -v ON_ERROR_STOP=1 -f /tmp/bulk_variants.sql
psql $db -qc "ALTER TABLE wide DISABLE TRIGGER USER"
for r in $(seq 1 "$R"); do
	set -- "${@:2}" "$1" # rotate
	for v in "$@"; do
		psql $db -qc "DROP TRIGGER IF EXISTS lad_upd ON wide" -c "VACUUM wide" >/dev/null
		[ "$v" != none ] && psql $db -qc "CREATE TRIGGER lad_upd AFTER UPDATE ON wide REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.v_$v()"
		ms=$(psql $db -c '\timing on' -c "UPDATE wide SET price = price + 1" | grep -o 'Time: [0-9.]*' | awk '{print $2}')
		echo "round $r $v $ms ms"
	done
done
psql -h 127.0.0.1 -U root -d postgres -qc "DROP DATABASE bulkl"
