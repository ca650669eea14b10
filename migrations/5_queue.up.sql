-- The capture queue (README: "Architecture", "Capture modes: notify and
-- queue"). Under contention the worker takes the queue-mode lock and the
-- triggers append their payloads here instead of sending them with
-- pg_notify, whose commit-time lock makes notifying commits run one at a
-- time. Each row holds exactly the payload a notification would carry.
--
-- UNLOGGED: the queue writes no WAL, so a queued commit costs the writer
-- only its heap insert; a crash or failover empties it, and the reconcile
-- the worker runs after every reconnect covers what it held. The two
-- indexes let the worker take a chunk without reading the whole queue
-- when it holds a backlog. The worker deletes rows as it drains them;
-- autovacuum is set to clean this small, churning table after every few
-- thousand dead rows instead of a fraction of its size.
CREATE UNLOGGED TABLE pgredis.queue (
    id      bigint GENERATED ALWAYS AS IDENTITY (CACHE 1000),
    seq     bigint NOT NULL,
    txid    bigint NOT NULL,
    payload text NOT NULL
) WITH (
    -- Truncating the empty tail takes a lock every insert waits for.
    vacuum_truncate = false,
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    autovacuum_vacuum_insert_scale_factor = 0,
    autovacuum_vacuum_insert_threshold = 20000,
    autovacuum_vacuum_cost_delay = 0,
    autovacuum_analyze_scale_factor = 0,
    autovacuum_analyze_threshold = 20000
);
CREATE INDEX queue_seq ON pgredis.queue (seq);
CREATE INDEX queue_txid ON pgredis.queue (txid);

-- The worker orders queued transactions by the sequence numbers of their
-- payloads, which must then grow in the order they are drawn across
-- sessions: a session's cache of 100 values let a later writer draw a
-- smaller one.
ALTER SEQUENCE pgredis.seq CACHE 1;

-- What the worker had drained when it last looked: the value of
-- pgredis.seq then. A writer compares its payload's sequence number with
-- it (a sequence read is not MVCC: a writer's snapshot cannot make it
-- stale) to bound the queue when the worker holds queue mode but stops
-- draining.
-- UNLOGGED: the worker sets it on every drain, and a logged sequence
-- would make each drain's commit wait for a WAL flush.
CREATE UNLOGGED SEQUENCE pgredis.queue_drained;

-- The two advisory locks of the capture mode (pgredis's key space: the
-- worker lock is 0x7067726564697321, migrate's that plus one):
--   M = 0x7067726564697323: the worker holds it (session lock) while in
--       queue mode; a writer's statement that gets it shared sends
--       notifications, one that cannot appends to the queue.
--   N = 0x7067726564697324: a transaction that appends holds it shared,
--       so the worker can wait out the writers that decided while it
--       held M (README: "Capture modes: notify and queue").
-- Returns true when the statement's payloads go to the queue. M is tried
-- again after N is taken: a writer that appends found M held after it
-- held N, so a worker that released M and then reads the holders of N
-- sees it. A transaction that got M keeps it to its end (a repeated
-- request is granted locally), so it notifies to its end; a notifying
-- writer never holds N.
CREATE FUNCTION pgredis.queueing() RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $f$
BEGIN
    IF pg_catalog.pg_try_advisory_xact_lock_shared(8099568234651022115) THEN
        RETURN false;
    END IF;
    PERFORM pg_catalog.pg_advisory_xact_lock_shared(8099568234651022116);
    RETURN NOT pg_catalog.pg_try_advisory_xact_lock_shared(8099568234651022115);
END
$f$;

-- Appends one payload. Beyond a million payloads past what the worker
-- last drained (a stuck worker: it holds queue mode but does not drain),
-- the payload is not queued: the worker is told to rebuild the mirror,
-- which discards the queue and reconciles every table. A transaction
-- appends at most 64 payloads (about 500 kB) per table: the worker drains
-- transactions whole, so a bulk statement's would all sit in its memory
-- at once; past that it appends one request to reconcile the table
-- instead (the reconcile runs after the transaction committed, so it
-- covers what was left out).
CREATE FUNCTION pgredis.enqueue(payload text) RETURNS void
LANGUAGE plpgsql VOLATILE AS $f$
DECLARE
    head text := pg_catalog.split_part(payload, E'\n', 1);
    s bigint := pg_catalog.split_part(head, ' ', 3)::bigint;
    counter text := 'pgredis.q_' || pg_catalog.split_part(head, ' ', 2);
    k integer;
    why text := 'a transaction too large for the capture queue';
BEGIN
    IF s - (SELECT d.last_value FROM pgredis.queue_drained d) > 1000000 THEN
        PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
        RETURN;
    END IF;
    k := coalesce(NULLIF(pg_catalog.current_setting(counter, true), '')::integer, 0) + 1;
    PERFORM pg_catalog.set_config(counter, k::text, true);
    IF k > 64 THEN
        IF k = 65 THEN
            INSERT INTO pgredis.queue (seq, txid, payload)
                VALUES (s, pg_catalog.split_part(head, ' ', 5)::bigint,
                    head || E'\n' || 'X' || pg_catalog.octet_length(why)::text || ':' || why);
        END IF;
        RETURN;
    END IF;
    INSERT INTO pgredis.queue (seq, txid, payload)
        VALUES (s, pg_catalog.split_part(head, ' ', 5)::bigint, payload);
END
$f$;

-- The worker's side, as the owner: the worker's role needs no privilege
-- on the queue itself, only EXECUTE on these (granted to its role by
-- whoever runs migrate up when it is another role).
--
-- Drains whole committed transactions, about n rows' worth. The chunk is
-- every transaction with a row at or below a sequence number M, where M
-- starts at the n-th smallest and grows until it covers the last row of
-- every transaction it reaches. A transaction left out then has all its
-- rows above M, so it never has to be applied before one taken: a
-- transaction that wrote a key after another committed drew a larger
-- sequence number than any of the other's. The rows come back in that
-- order: by their transaction's last sequence number, then as appended (a
-- transaction's rows become visible together at its commit, so each is
-- complete). Its statements must share one snapshot: the worker calls it
-- in a REPEATABLE READ transaction.
CREATE FUNCTION pgredis.drain(n integer) RETURNS TABLE (last_seq bigint, id bigint, payload text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    lo bigint;
    hi bigint;
    top bigint;
    txids bigint[];
BEGIN
    PERFORM pg_catalog.setval('pgredis.queue_drained', (SELECT s.last_value FROM pgredis.seq s));
    IF n <= 0 THEN
        RETURN;
    END IF;
    -- The queue's statistics are never current: always the indexes (for
    -- the drain's transaction only; as a SET clause of the function it
    -- made every call tens of times slower).
    PERFORM pg_catalog.set_config('enable_seqscan', 'off', true);
    IF pg_catalog.current_setting('transaction_isolation') <> 'repeatable read' THEN
        RAISE EXCEPTION 'pgredis.drain must run in a REPEATABLE READ transaction';
    END IF;
    -- The n lowest rows: one pass over the index's low end, where the dead
    -- entries of drained rows wait for vacuum.
    SELECT pg_catalog.array_agg(DISTINCT c.txid), max(c.seq) INTO txids, lo
        FROM (SELECT q.seq, q.txid FROM pgredis.queue q ORDER BY q.seq LIMIT n) c;
    IF lo IS NULL THEN
        RETURN;
    END IF;
    hi := lo;
    LOOP
        SELECT max(q.seq) INTO top FROM pgredis.queue q WHERE q.txid = ANY (txids);
        EXIT WHEN top <= hi;
        -- Rows between the old bound and the new one bring their
        -- transactions in.
        SELECT pg_catalog.array_agg(DISTINCT x.txid) INTO txids FROM (
            SELECT pg_catalog.unnest(txids) AS txid
            UNION
            SELECT q.txid FROM pgredis.queue q WHERE q.seq > hi AND q.seq <= top) x;
        hi := top;
    END LOOP;
    RETURN QUERY
        WITH d AS (
            DELETE FROM pgredis.queue q WHERE q.txid = ANY (txids)
            RETURNING q.seq, q.txid, q.id, q.payload
        )
        SELECT max(d.seq) OVER (PARTITION BY d.txid), d.id, d.payload FROM d ORDER BY 1, 2;
END
$f$;

-- Empties the queue: a claiming worker's reconcile covers what it held.
CREATE FUNCTION pgredis.discard_queue() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    n bigint;
BEGIN
    DELETE FROM pgredis.queue;
    GET DIAGNOSTICS n = ROW_COUNT;
    PERFORM pg_catalog.setval('pgredis.queue_drained', (SELECT s.last_value FROM pgredis.seq s));
    RETURN n;
END
$f$;

-- Rows waiting (the queue depth metric).
CREATE FUNCTION pgredis.queue_depth() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
    SELECT count(*) FROM pgredis.queue
$f$;

REVOKE ALL ON FUNCTION pgredis.queueing() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgredis.enqueue(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgredis.drain(integer) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgredis.discard_queue() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgredis.queue_depth() TO PUBLIC;
