CREATE OR REPLACE FUNCTION pgredis.t_aecd45c84e83729e_ins() RETURNS trigger
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
	pgredis_e := pg_catalog.set_config('pgredis.s_aecd45c84e83729e_seen', pg_catalog.statement_timestamp()::text, true);
	SELECT one.c, n.k, n.v INTO pgredis_rows, pgredis_nk, pgredis_nv
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_new LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'tasks:' || (n."id")::text AS k, (pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) 'note'::text)::text AS v FROM pgredis_new n WHERE one.c = 1 AND ((state <> 'done' AND note <> 'a; b=c')) OFFSET 0) n ON true;
	IF pgredis_rows = 1 AND (pgredis_nk IS NULL OR pg_catalog.octet_length(pgredis_nk) + pg_catalog.octet_length(pgredis_nv) <= 7600) THEN
		FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[
				CASE WHEN pgredis_nk IS NOT NULL THEN 'S' || pg_catalog.octet_length(pgredis_nk)::text || ':' || pgredis_nk || pg_catalog.octet_length(pgredis_nv)::text || ':' || pgredis_nv END
			], NULL)
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
						'tasks:' || (n."id")::text AS k,
						('{"id": ' || coalesce((n."id")::text, 'null') || ', "state": ' || coalesce(pg_catalog.to_json(n."state")::text, 'null') || '}') AS v,
						'R1:' || pg_catalog.octet_length((n."id")::text)::text || ':' || (n."id")::text AS f
					FROM pgredis_new n WHERE (state <> 'done' AND note <> 'a; b=c')
					OFFSET 0
				) x
				WHERE x.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
			pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'ins', 'public.tasks', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 a8f4b1ad561d5620 ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.tasks failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_aecd45c84e83729e_ins() IS 'pgredis: ins trigger function of public.tasks, installed by pgredis migrate up for the spec "public"."tasks" format=json exclude=note where=(state <> ''done'' AND note <> ''a; b=c'') (version a8f4b1ad561d5620)';

CREATE OR REPLACE FUNCTION pgredis.t_aecd45c84e83729e_upd() RETURNS trigger
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
	pgredis_seen := coalesce(pg_catalog.current_setting('pgredis.s_aecd45c84e83729e_seen', true) = pg_catalog.statement_timestamp()::text, false);
	pgredis_e := pg_catalog.set_config('pgredis.s_aecd45c84e83729e_seen', pg_catalog.statement_timestamp()::text, true);
	SELECT one.c, n.k, n.v, o.k INTO pgredis_rows, pgredis_nk, pgredis_nv, pgredis_ok
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_new LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'tasks:' || (n."id")::text AS k, (pg_catalog.to_jsonb(n.*) OPERATOR(pg_catalog.-) 'note'::text)::text AS v FROM pgredis_new n WHERE one.c = 1 AND ((state <> 'done' AND note <> 'a; b=c')) OFFSET 0) n ON true
		LEFT JOIN LATERAL (SELECT 'tasks:' || (o."id")::text AS k FROM pgredis_old o WHERE one.c = 1 AND ((state <> 'done' AND note <> 'a; b=c')) OFFSET 0) o ON true;
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
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
						'tasks:' || (n."id")::text AS k,
						('{"id": ' || coalesce((n."id")::text, 'null') || ', "state": ' || coalesce(pg_catalog.to_json(n."state")::text, 'null') || '}') AS v,
						'R1:' || pg_catalog.octet_length((n."id")::text)::text || ':' || (n."id")::text AS f
					FROM pgredis_new n WHERE (state <> 'done' AND note <> 'a; b=c')
					OFFSET 0
				) x
				WHERE x.k IS NOT NULL
				UNION ALL
				SELECT CASE WHEN pg_catalog.octet_length(d.k) <= 7600 THEN 'D' || pg_catalog.octet_length(d.k)::text || ':' || d.k ELSE 'X0:' END AS e
				FROM (
					SELECT g.k
					FROM (
						SELECT 'tasks:' || (o."id")::text, o."id" FROM pgredis_old o WHERE (state <> 'done' AND note <> 'a; b=c')
						EXCEPT
						SELECT 'tasks:' || (n."id")::text, n."id" FROM pgredis_new n WHERE (state <> 'done' AND note <> 'a; b=c')
					) g(k, c1)
					WHERE CASE WHEN pgredis_seen THEN NOT EXISTS (
						SELECT FROM "public"."tasks" c
						WHERE c."id" OPERATOR(pg_catalog.=) g.c1
							AND 'tasks:' || (c."id")::text = g.k
							AND (state <> 'done' AND note <> 'a; b=c')
					) ELSE true END
				) d(k)
				WHERE d.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
			pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'upd', 'public.tasks', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 a8f4b1ad561d5620 ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.tasks failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_aecd45c84e83729e_upd() IS 'pgredis: upd trigger function of public.tasks, installed by pgredis migrate up for the spec "public"."tasks" format=json exclude=note where=(state <> ''done'' AND note <> ''a; b=c'') (version a8f4b1ad561d5620)';

CREATE OR REPLACE FUNCTION pgredis.t_aecd45c84e83729e_del() RETURNS trigger
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
	pgredis_seen := coalesce(pg_catalog.current_setting('pgredis.s_aecd45c84e83729e_seen', true) = pg_catalog.statement_timestamp()::text, false);
	SELECT one.c, o.k INTO pgredis_rows, pgredis_ok
	FROM (SELECT pg_catalog.count(*) AS c FROM (SELECT FROM pgredis_old LIMIT 2) l) one
		LEFT JOIN LATERAL (SELECT 'tasks:' || (o."id")::text AS k FROM pgredis_old o WHERE one.c = 1 AND ((state <> 'done' AND note <> 'a; b=c')) OFFSET 0) o ON true;
	IF pgredis_rows = 1 AND (pgredis_ok IS NULL OR NOT pgredis_seen) THEN
		FOREACH pgredis_e IN ARRAY pg_catalog.array_remove(ARRAY[
				CASE WHEN pgredis_ok IS NOT NULL THEN CASE WHEN pg_catalog.octet_length(pgredis_ok) <= 7600 THEN 'D' || pg_catalog.octet_length(pgredis_ok)::text || ':' || pgredis_ok ELSE 'X0:' END END
			], NULL)
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
						SELECT 'tasks:' || (o."id")::text, o."id" FROM pgredis_old o WHERE (state <> 'done' AND note <> 'a; b=c')
					) g(k, c1)
					WHERE CASE WHEN pgredis_seen THEN NOT EXISTS (
						SELECT FROM "public"."tasks" c
						WHERE c."id" OPERATOR(pg_catalog.=) g.c1
							AND 'tasks:' || (c."id")::text = g.k
							AND (state <> 'done' AND note <> 'a; b=c')
					) ELSE true END
				) d(k)
				WHERE d.k IS NOT NULL
		LOOP
			IF pg_catalog.octet_length(pgredis_buf) + pg_catalog.octet_length(pgredis_e) > 7600 THEN
				IF pgredis_hdr IS NULL THEN
					pgredis_s := pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass);
					pgredis_x := pg_catalog.txid_current();
					pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
					pgredis_q := pgredis.queueing();
				END IF;
				IF NOT pgredis_q THEN
					PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
				ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
					PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
				ELSE
					pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
					pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
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
			pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
			pgredis_q := pgredis.queueing();
		END IF;
		IF NOT pgredis_q THEN
			PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || pgredis_buf);
		ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
			PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
		ELSE
			pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
			pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
			IF pgredis_k <= 64 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || pgredis_buf);
			ELSIF pgredis_k = 65 THEN
				INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
			END IF;
		END IF;
	END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'del', 'public.tasks', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 a8f4b1ad561d5620 ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.tasks failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_aecd45c84e83729e_del() IS 'pgredis: del trigger function of public.tasks, installed by pgredis migrate up for the spec "public"."tasks" format=json exclude=note where=(state <> ''done'' AND note <> ''a; b=c'') (version a8f4b1ad561d5620)';

CREATE OR REPLACE FUNCTION pgredis.t_aecd45c84e83729e_trunc() RETURNS trigger
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
pgredis_hdr := 'p2 a8f4b1ad561d5620 ' || pgredis_s::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pgredis_x::text || E'\n';
pgredis_q := pgredis.queueing();
	IF NOT pgredis_q THEN
	PERFORM pg_catalog.pg_notify('pgredis', pgredis_hdr || 'T');
ELSIF pgredis_s - coalesce(pg_catalog.pg_sequence_last_value('pgredis.queue_drained'::pg_catalog.regclass), 1) > 1000000 THEN
	PERFORM pg_catalog.pg_notify('pgredis', 'c1 overflow - 0');
ELSE
	pgredis_k := coalesce(NULLIF(pg_catalog.current_setting('pgredis.q_a8f4b1ad561d5620', true), '')::integer, 0) + 1;
	pgredis_cfg := pg_catalog.set_config('pgredis.q_a8f4b1ad561d5620', pgredis_k::text, true);
	IF pgredis_k <= 64 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'T');
	ELSIF pgredis_k = 65 THEN
		INSERT INTO pgredis.queue (seq, txid, payload) VALUES (pgredis_s, pgredis_x, pgredis_hdr || 'X45:a transaction too large for the capture queue');
	END IF;
END IF;
	RETURN NULL;
EXCEPTION WHEN OTHERS THEN
	RAISE WARNING 'pgredis: the % trigger on % failed, so the worker will reconcile the table: %', 'trunc', 'public.tasks', SQLERRM;
	PERFORM pg_catalog.pg_notify('pgredis', 'p2 a8f4b1ad561d5620 ' || pg_catalog.nextval('pgredis.seq'::pg_catalog.regclass)::text || ' ' || pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.clock_timestamp()) * 1000000)::bigint::text || ' ' || pg_catalog.txid_current()::text || E'\n' || 'X' || pg_catalog.octet_length(m)::text || ':' || m)
		FROM (SELECT pg_catalog.left('trigger on public.tasks failed: ' || SQLERRM, 2000) AS m) e;
	RETURN NULL;
END
$pgredis$;

COMMENT ON FUNCTION pgredis.t_aecd45c84e83729e_trunc() IS 'pgredis: trunc trigger function of public.tasks, installed by pgredis migrate up for the spec "public"."tasks" format=json exclude=note where=(state <> ''done'' AND note <> ''a; b=c'') (version a8f4b1ad561d5620)';

INSERT INTO pgredis.shapes (schema_name, table_name, shape) VALUES ('public', 'tasks', pgredis.shape('"public"."tasks"'))
ON CONFLICT (schema_name, table_name) DO UPDATE SET shape = EXCLUDED.shape;

SELECT set_config('pgredis.in_ddl', 'on', true);

CREATE OR REPLACE TRIGGER pgredis_ins AFTER INSERT ON "public"."tasks" REFERENCING NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_aecd45c84e83729e_ins();

CREATE OR REPLACE TRIGGER pgredis_upd AFTER UPDATE ON "public"."tasks" REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_aecd45c84e83729e_upd();

CREATE OR REPLACE TRIGGER pgredis_del AFTER DELETE ON "public"."tasks" REFERENCING OLD TABLE AS pgredis_old FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_aecd45c84e83729e_del();

CREATE OR REPLACE TRIGGER pgredis_trunc AFTER TRUNCATE ON "public"."tasks" FOR EACH STATEMENT EXECUTE FUNCTION pgredis.t_aecd45c84e83729e_trunc();

ALTER TABLE "public"."tasks" ENABLE ALWAYS TRIGGER pgredis_ins, ENABLE ALWAYS TRIGGER pgredis_upd, ENABLE ALWAYS TRIGGER pgredis_del, ENABLE ALWAYS TRIGGER pgredis_trunc;

SELECT set_config('pgredis.in_ddl', 'off', true);

-- render
SELECT k, v FROM (SELECT 'tasks:' || (r."id")::text AS k, (pg_catalog.to_jsonb(r.*) OPERATOR(pg_catalog.-) 'note'::text)::text AS v FROM "public"."tasks" r WHERE (state <> 'done' AND note <> 'a; b=c')) x WHERE k IS NOT NULL;

-- fetch
SELECT k, v FROM (SELECT 'tasks:' || (r."id")::text AS k, (pg_catalog.to_jsonb(r.*) OPERATOR(pg_catalog.-) 'note'::text)::text AS v FROM "public"."tasks" r WHERE r."id" = $1::integer AND (state <> 'done' AND note <> 'a; b=c')) x WHERE k IS NOT NULL;
