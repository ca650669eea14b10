-- The key-only queue-mode body measured in BENCHMARKS.md ("The key-only queue,
-- prototyped at the writer"): load into the ladder database, then
-- tps.sh ROUNDS SECS 32 none noop base keys. Scratch tooling, not the product.
CREATE OR REPLACE FUNCTION pgredis.v_keys() RETURNS trigger
 LANGUAGE plpgsql SECURITY DEFINER SET search_path TO 'pg_catalog', 'public', 'pg_temp'
AS $function$
DECLARE
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	IF NOT pgredis.queueing() THEN
		RETURN NULL; -- the notify path would render here (a separate function with the SET clauses)
	END IF;
	pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
	pgredis_x := pg_catalog.txid_current();
	IF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
		PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		RETURN NULL;
	END IF;
	INSERT INTO pgredis.queue (seq, txid, payload)
		SELECT pgredis_s, pgredis_x, 'K bde1373606f00261 ' || pg_catalog.string_agg(k, ' ')
		FROM (SELECT (n."id")::text FROM pgredis_new n
			UNION SELECT (o."id")::text FROM pgredis_old o) g(k);
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'upd', 'public.t', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'X');
	RETURN NULL;
END
$function$;
