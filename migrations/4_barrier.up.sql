-- The read-your-writes barrier (README: "Transactions and the barrier").

-- The worker's PGREDIS_STATE_PREFIX, so pgredis.barrier() can name a list
-- under it: migrate up and every worker taking the lock record theirs.
CREATE TABLE pgredis.barrier_prefix (
    one          boolean PRIMARY KEY DEFAULT true CHECK (one),
    state_prefix text NOT NULL
);
INSERT INTO pgredis.barrier_prefix (state_prefix) VALUES ('pgredis:');

-- Barriers not answered yet. The notification answers a barrier at once;
-- the row answers it after a standby takeover, when the notification was
-- sent before the new worker listened (the worker answers every row it
-- finds once its start-up reconcile is done, and deletes what it answered).
CREATE TABLE pgredis.barriers (
    id      text PRIMARY KEY,
    created timestamptz NOT NULL DEFAULT now()
);

-- Returns the name of a Redis list under the worker's state prefix; once
-- every change committed before this call's transaction commits is in
-- Redis, the worker pushes one element to it (which expires a minute
-- later). Any role may call it: it runs as its owner and writes only its
-- own row. The notification goes out at commit, after every change
-- notification of this transaction and of the transactions committed
-- before.
CREATE FUNCTION pgredis.barrier() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    id text := replace(gen_random_uuid()::text, '-', '');
BEGIN
    INSERT INTO pgredis.barriers (id) VALUES (id);
    PERFORM pg_notify('pgredis', 'c1 barrier ' || id || ' 0');
    RETURN (SELECT p.state_prefix FROM pgredis.barrier_prefix p) || 'barrier:' || id;
END
$f$;
REVOKE ALL ON FUNCTION pgredis.barrier() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgredis.barrier() TO PUBLIC;
GRANT USAGE ON SCHEMA pgredis TO PUBLIC;
