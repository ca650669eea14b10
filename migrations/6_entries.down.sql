-- Drops the triggers and functions of every later entry of a table
-- listed more than once (the older pgredis knows only one per table),
-- with their registry rows, and restores fall_back.
DO $d$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
        JOIN pg_proc p ON p.oid = g.tgfoid
        WHERE p.pronamespace = 'pgredis'::regnamespace AND p.proname LIKE 'e\_%'
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', r.tgname, r.rel);
    END LOOP;
    FOR r IN
        SELECT p.oid::regprocedure AS fn FROM pg_proc p
        WHERE p.pronamespace = 'pgredis'::regnamespace AND p.proname LIKE 'e\_%' AND p.pronargs = 0
    LOOP
        EXECUTE format('DROP FUNCTION %s', r.fn);
    END LOOP;
END
$d$;
DELETE FROM pgredis.tables WHERE entry <> '';
ALTER TABLE pgredis.tables DROP CONSTRAINT tables_pkey;
ALTER TABLE pgredis.tables ADD PRIMARY KEY (schema_name, table_name);
ALTER TABLE pgredis.tables DROP COLUMN entry;

CREATE OR REPLACE FUNCTION pgredis.fall_back(schema_name text, table_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    prefix text := pgredis.func_prefix(schema_name, table_name);
    op text;
BEGIN
    FOREACH op IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
        CONTINUE WHEN to_regprocedure(prefix || op || '()') IS NULL;
        EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS %L',
            prefix || op, format('BEGIN PERFORM pg_notify(%L, %L); RETURN NULL; END', 'pgredis', 'c1 refresh 0 0 ' || schema_name || '.' || table_name));
    END LOOP;
    UPDATE pgredis.shapes s SET shape = '' WHERE s.schema_name = fall_back.schema_name AND s.table_name = fall_back.table_name;
END
$f$;
