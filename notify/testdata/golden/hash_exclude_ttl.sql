CREATE OR REPLACE FUNCTION pgredis.t_8e31de03fa51b3aa_ins() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET TimeZone TO 'UTC'
SET DateStyle TO 'ISO', 'MDY'
SET IntervalStyle TO 'postgres'
SET extra_float_digits TO '1'
SET bytea_output TO 'hex'
SET search_path TO 'pg_catalog', 'public', 'pg_temp'
SET lc_monetary TO 'C'
SET standard_conforming_strings TO 'on'
AS $pgredis$
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
	pgredis_seen boolean;
	pgredis_rows bigint;
	pgredis_nk text;
	pgredis_nv text;
	pgredis_ok text;
	pgredis_q boolean;
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	pgredis_e := pg_catalog.set_config('pgredis.s_8e31de03fa51b3aa_seen', pg_catalog.statement_timestamp()::text, true);
	SELECT one.c, n.k, n.v INTO pgredis_rows, pgredis_nk, pgredis_nv
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_new LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'accounts:' || (n."id")::text AS k, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (n."id")::text, 'email', (n."email")::text))::text AS v FROM pgredis_new n WHERE one.c = 1 OFFSET 0) n ON true;
	IF pgredis_rows = 1 AND (pgredis_nk IS NULL OR pg_catalog.octet_length(pgredis_nk) + pg_catalog.octet_length(pgredis_nv) <= 7600) THEN
		FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[
				CASE WHEN pgredis_nk IS NOT NULL THEN 'S' || pg_catalog.octet_length(pgredis_nk)::text || ':' || pgredis_nk || pg_catalog.octet_length(pgredis_nv)::text || ':' || pgredis_nv END
			], NULL)
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	ELSE
		FOR pgredis_e IN
			SELECT CASE
					WHEN pg_catalog.octet_length(x.k) + pg_catalog.octet_length(x.v) <= 7600
						THEN 'S' || pg_catalog.octet_length(x.k)::text || ':' || x.k || pg_catalog.octet_length(x.v)::text || ':' || x.v
					WHEN pg_catalog.octet_length(x.f) <= 7600 THEN x.f
					ELSE 'X0:'
				END AS e
				FROM (
					SELECT
						'accounts:' || (n."id")::text AS k,
						pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (n."id")::text, 'email', (n."email")::text))::text AS v,
						'R1:' || pg_catalog.octet_length((n."id")::text)::text || ':' || (n."id")::text AS f
					FROM pgredis_new n
					OFFSET 0
				) x
				WHERE x.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	END IF;
	IF pgredis_buf <> '' THEN
		IF pgredis_hdr IS NULL THEN
			pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
			pgredis_x := pg_catalog.txid_current();
			pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'ins', 'public.accounts', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 91459e69652b6bbd ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.accounts failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_8e31de03fa51b3aa_ins() IS 'pgredis: ins trigger function of public.accounts, installed by pgredis migrate up for the spec "public"."accounts" format=hash exclude=password ttl=10m0s (version 91459e69652b6bbd)';

CREATE OR REPLACE FUNCTION pgredis.t_8e31de03fa51b3aa_upd() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET TimeZone TO 'UTC'
SET DateStyle TO 'ISO', 'MDY'
SET IntervalStyle TO 'postgres'
SET extra_float_digits TO '1'
SET bytea_output TO 'hex'
SET search_path TO 'pg_catalog', 'public', 'pg_temp'
SET lc_monetary TO 'C'
SET standard_conforming_strings TO 'on'
AS $pgredis$
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
	pgredis_seen boolean;
	pgredis_rows bigint;
	pgredis_nk text;
	pgredis_nv text;
	pgredis_ok text;
	pgredis_q boolean;
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	pgredis_seen := coalesce(pg_catalog.current_setting('pgredis.s_8e31de03fa51b3aa_seen', true) = pg_catalog.statement_timestamp()::text, false);
	pgredis_e := pg_catalog.set_config('pgredis.s_8e31de03fa51b3aa_seen', pg_catalog.statement_timestamp()::text, true);
	SELECT one.c, n.k, n.v, o.k INTO pgredis_rows, pgredis_nk, pgredis_nv, pgredis_ok
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_new LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'accounts:' || (n."id")::text AS k, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (n."id")::text, 'email', (n."email")::text))::text AS v FROM pgredis_new n WHERE one.c = 1 OFFSET 0) n ON true
		LEFT JOIN LATERAL (SELECT 'accounts:' || (o."id")::text AS k FROM pgredis_old o WHERE one.c = 1 OFFSET 0) o ON true;
	IF pgredis_rows = 1 AND (pgredis_nk IS NULL OR pg_catalog.octet_length(pgredis_nk) + pg_catalog.octet_length(pgredis_nv) <= 7600) AND (pgredis_ok IS NULL OR pgredis_ok IS NOT DISTINCT FROM pgredis_nk OR NOT pgredis_seen) THEN
		FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[
				CASE WHEN pgredis_nk IS NOT NULL THEN 'S' || pg_catalog.octet_length(pgredis_nk)::text || ':' || pgredis_nk || pg_catalog.octet_length(pgredis_nv)::text || ':' || pgredis_nv END,
				CASE WHEN pgredis_ok IS DISTINCT FROM pgredis_nk THEN CASE WHEN pgredis_ok IS NOT NULL THEN CASE WHEN pg_catalog.octet_length(pgredis_ok) <= 7600 THEN 'D' || pg_catalog.octet_length(pgredis_ok)::text || ':' || pgredis_ok ELSE 'X0:' END END END
			], NULL)
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	ELSE
		FOR pgredis_e IN
			SELECT CASE
					WHEN pg_catalog.octet_length(x.k) + pg_catalog.octet_length(x.v) <= 7600
						THEN 'S' || pg_catalog.octet_length(x.k)::text || ':' || x.k || pg_catalog.octet_length(x.v)::text || ':' || x.v
					WHEN pg_catalog.octet_length(x.f) <= 7600 THEN x.f
					ELSE 'X0:'
				END AS e
				FROM (
					SELECT
						'accounts:' || (n."id")::text AS k,
						pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (n."id")::text, 'email', (n."email")::text))::text AS v,
						'R1:' || pg_catalog.octet_length((n."id")::text)::text || ':' || (n."id")::text AS f
					FROM pgredis_new n
					OFFSET 0
				) x
				WHERE x.k IS NOT NULL
				UNION ALL
				SELECT CASE WHEN pg_catalog.octet_length(d.k) <= 7600 THEN 'D' || pg_catalog.octet_length(d.k)::text || ':' || d.k ELSE 'X0:' END AS e
				FROM (
					SELECT g.k
					FROM (
						SELECT 'accounts:' || (o."id")::text, o."id" FROM pgredis_old o
						EXCEPT
						SELECT 'accounts:' || (n."id")::text, n."id" FROM pgredis_new n
					) g(k, c1)
					WHERE CASE WHEN pgredis_seen THEN NOT EXISTS (
						SELECT FROM "public"."accounts" c
						WHERE c."id" OPERATOR(pg_catalog.=) g.c1
							AND 'accounts:' || (c."id")::text = g.k
					) ELSE true END
				) d(k)
				WHERE d.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	END IF;
	IF pgredis_buf <> '' THEN
		IF pgredis_hdr IS NULL THEN
			pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
			pgredis_x := pg_catalog.txid_current();
			pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'upd', 'public.accounts', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 91459e69652b6bbd ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.accounts failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_8e31de03fa51b3aa_upd() IS 'pgredis: upd trigger function of public.accounts, installed by pgredis migrate up for the spec "public"."accounts" format=hash exclude=password ttl=10m0s (version 91459e69652b6bbd)';

CREATE OR REPLACE FUNCTION pgredis.t_8e31de03fa51b3aa_del() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET TimeZone TO 'UTC'
SET DateStyle TO 'ISO', 'MDY'
SET IntervalStyle TO 'postgres'
SET extra_float_digits TO '1'
SET bytea_output TO 'hex'
SET search_path TO 'pg_catalog', 'public', 'pg_temp'
SET lc_monetary TO 'C'
SET standard_conforming_strings TO 'on'
AS $pgredis$
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
	pgredis_seen boolean;
	pgredis_rows bigint;
	pgredis_nk text;
	pgredis_nv text;
	pgredis_ok text;
	pgredis_q boolean;
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	pgredis_seen := coalesce(pg_catalog.current_setting('pgredis.s_8e31de03fa51b3aa_seen', true) = pg_catalog.statement_timestamp()::text, false);
	SELECT one.c, o.k INTO pgredis_rows, pgredis_ok
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_old LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'accounts:' || (o."id")::text AS k FROM pgredis_old o WHERE one.c = 1 OFFSET 0) o ON true;
	IF pgredis_rows = 1 AND (pgredis_ok IS NULL OR NOT pgredis_seen) THEN
		FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[
				CASE WHEN pgredis_ok IS NOT NULL THEN CASE WHEN pg_catalog.octet_length(pgredis_ok) <= 7600 THEN 'D' || pg_catalog.octet_length(pgredis_ok)::text || ':' || pgredis_ok ELSE 'X0:' END END
			], NULL)
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	ELSE
		FOR pgredis_e IN
			SELECT CASE WHEN pg_catalog.octet_length(d.k) <= 7600 THEN 'D' || pg_catalog.octet_length(d.k)::text || ':' || d.k ELSE 'X0:' END AS e
				FROM (
					SELECT g.k
					FROM (
						SELECT 'accounts:' || (o."id")::text, o."id" FROM pgredis_old o
					) g(k, c1)
					WHERE CASE WHEN pgredis_seen THEN NOT EXISTS (
						SELECT FROM "public"."accounts" c
						WHERE c."id" OPERATOR(pg_catalog.=) g.c1
							AND 'accounts:' || (c."id")::text = g.k
					) ELSE true END
				) d(k)
				WHERE d.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
					IF pgredis_k <= 64 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
					ELSIF pgredis_k = 65 THEN
						INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
					END IF;
				END IF;
				pgredis_buf := '';
			END IF;
			pgredis_buf := pgredis_buf || pgredis_e;
		END LOOP;
	END IF;
	IF pgredis_buf <> '' THEN
		IF pgredis_hdr IS NULL THEN
			pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
			pgredis_x := pg_catalog.txid_current();
			pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'del', 'public.accounts', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 91459e69652b6bbd ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.accounts failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_8e31de03fa51b3aa_del() IS 'pgredis: del trigger function of public.accounts, installed by pgredis migrate up for the spec "public"."accounts" format=hash exclude=password ttl=10m0s (version 91459e69652b6bbd)';

CREATE OR REPLACE FUNCTION pgredis.t_8e31de03fa51b3aa_trunc() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET TimeZone TO 'UTC'
SET DateStyle TO 'ISO', 'MDY'
SET IntervalStyle TO 'postgres'
SET extra_float_digits TO '1'
SET bytea_output TO 'hex'
SET search_path TO 'pg_catalog', 'public', 'pg_temp'
SET lc_monetary TO 'C'
SET standard_conforming_strings TO 'on'
AS $pgredis$
#variable_conflict use_column
DECLARE
	pgredis_buf text := '';
	pgredis_e text;
	pgredis_hdr text;
	pgredis_seen boolean;
	pgredis_rows bigint;
	pgredis_nk text;
	pgredis_nv text;
	pgredis_ok text;
	pgredis_q boolean;
	pgredis_s bigint;
	pgredis_x bigint;
	pgredis_k integer;
	pgredis_cfg text;
BEGIN
	pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
pgredis_x := pg_catalog.txid_current();
pgredis_hdr := 'p2 91459e69652b6bbd ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
pgredis_q := pgredis.queueing();
	IF NOT pgredis_q THEN
	PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || 'T');
ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
	PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
ELSE
	pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_91459e69652b6bbd', true), '')::integer, 0) + 1;
	pgredis_cfg := pg_catalog.set_config('pgredis.q_91459e69652b6bbd', pgredis_k::text, true);
	IF pgredis_k <= 64 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'T');
	ELSIF pgredis_k = 65 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
	END IF;
END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'trunc', 'public.accounts', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 91459e69652b6bbd ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.accounts failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_8e31de03fa51b3aa_trunc() IS 'pgredis: trunc trigger function of public.accounts, installed by pgredis migrate up for the spec "public"."accounts" format=hash exclude=password ttl=10m0s (version 91459e69652b6bbd)';

INSERT INTO pgredis.shapes (schema_name, table_name, shape) VALUES ('public', 'accounts', pgredis.shape('"public"."accounts"'))
ON CONFLICT (schema_name, table_name) DO UPDATE SET shape = EXCLUDED.shape;

SELECT set_config('pgredis.in_ddl', 'on', true);

CREATE OR REPLACE TRIGGER pgredis_ins AFTER INSERT ON "public"."accounts" REFERENCING NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_8e31de03fa51b3aa_ins();

CREATE OR REPLACE TRIGGER pgredis_upd AFTER UPDATE ON "public"."accounts" REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_8e31de03fa51b3aa_upd();

CREATE OR REPLACE TRIGGER pgredis_del AFTER DELETE ON "public"."accounts" REFERENCING OLD TABLE AS pgredis_old FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_8e31de03fa51b3aa_del();

CREATE OR REPLACE TRIGGER pgredis_trunc AFTER TRUNCATE ON "public"."accounts" FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_8e31de03fa51b3aa_trunc();

ALTER TABLE "public"."accounts" ENABLE ALWAYS TRIGGER pgredis_ins, ENABLE ALWAYS TRIGGER pgredis_upd, ENABLE ALWAYS TRIGGER pgredis_del, ENABLE ALWAYS TRIGGER pgredis_trunc;

SELECT set_config('pgredis.in_ddl', 'off', true);

-- render
SELECT k, v FROM (SELECT 'accounts:' || (r."id")::text AS k, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (r."id")::text, 'email', (r."email")::text))::text AS v FROM "public"."accounts" r) x WHERE k IS NOT NULL;

-- fetch
SELECT k, v FROM (SELECT 'accounts:' || (r."id")::text AS k, pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object('id', (r."id")::text, 'email', (r."email")::text))::text AS v FROM "public"."accounts" r WHERE r."id" = $1::integer) x WHERE k IS NOT NULL;
