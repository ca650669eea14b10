-- A table may be listed more than once in PGREDIS_TABLES with different
-- key templates, each entry its own mirror (README: "A table listed more
-- than once"). The registry holds a row per entry: entry is '' for a
-- table's first entry (every row of an older pgredis, so an upgrade
-- reinstalls nothing) and a hash of the key template for a later one,
-- whose trigger functions are pgredis.e_<table hash>_<entry>_<op> and
-- triggers pgredis_<op>_<entry>.
ALTER TABLE pgredis.tables ADD COLUMN entry text NOT NULL DEFAULT '';
ALTER TABLE pgredis.tables DROP CONSTRAINT tables_pkey;
ALTER TABLE pgredis.tables ADD PRIMARY KEY (schema_name, table_name, entry);

-- fall_back also swaps the functions of the table's later entries: they
-- render the same columns.
CREATE OR REPLACE FUNCTION pgredis.fall_back(schema_name text, table_name text) RETURNS void
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    prefix text := pgredis.func_prefix(schema_name, table_name);
    body text := format('BEGIN PERFORM pg_notify(%L, %L); RETURN NULL; END', 'pgredis', 'c1 refresh 0 0 ' || schema_name || '.' || table_name);
    op text;
    fn text;
BEGIN
    FOREACH op IN ARRAY ARRAY['ins', 'upd', 'del', 'trunc'] LOOP
        CONTINUE WHEN to_regprocedure(prefix || op || '()') IS NULL;
        EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS %L',
            prefix || op, body);
    END LOOP;
    FOR fn IN
        SELECT 'pgredis.' || p.proname FROM pg_proc p
        WHERE p.pronamespace = 'pgredis'::regnamespace AND p.pronargs = 0
            AND p.proname LIKE 'e\_' || substr(prefix, length('pgredis.t_') + 1, 16) || '\_%'
    LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION %s() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS %L',
            fn, body);
    END LOOP;
    UPDATE pgredis.shapes s SET shape = '' WHERE s.schema_name = fall_back.schema_name AND s.table_name = fall_back.table_name;
END
$f$;
