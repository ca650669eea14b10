#!/bin/bash
# cg.sh VARIANT N -> total instructions of a single-user backend running N single-row UPDATEs with only VARIANT's trigger enabled
v=$1; n=$2; d=/tmp/ladder/cg/data
{
echo "DROP TRIGGER IF EXISTS lad_upd ON t;"
if [ "$v" != none ]; then echo "CREATE TRIGGER lad_upd AFTER UPDATE ON t REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.v_$v();"; fi
echo "SET synchronous_commit = off;"
echo "PREPARE u(int) AS UPDATE t SET price = price + 1, qty = qty + 1 WHERE id = \$1;"
for i in $(seq 1 $n); do echo "EXECUTE u($(( (i*7919) % 100000 + 1 )));"; done
echo "DELETE FROM pgredis.queue;"
} > /tmp/ladder/in_$v_$n.sql
su postgres -c "valgrind --tool=callgrind --callgrind-out-file=/tmp/ladder/cgout.$v.$n /usr/lib/postgresql/15/bin/postgres --single -D $d ladder < /tmp/ladder/in_$v_$n.sql > /dev/null 2>/tmp/ladder/vg.$v.$n"
grep -o 'Collected : [0-9]*' /tmp/ladder/vg.$v.$n | awk '{print $3}'
