-- Capture follows the synced tables' partitions, inheritance children,
-- renames and column changes. README: "Partitions, replication and
-- schema changes".

-- The columns each synced table's trigger functions were generated for
-- (pgredis.shape). When the table's shape differs, the functions are stale
-- and the worker regenerates them; '' marks functions swapped for the
-- fallback below.
CREATE TABLE pgredis.shapes (
    schema_name text NOT NULL,
    table_name  text NOT NULL,
    shape       text NOT NULL,
    PRIMARY KEY (schema_name, table_name)
);

-- A relation's columns and types, in name order (column order does not
-- change what is rendered).
CREATE FUNCTION pgredis.shape(rel regclass) RETURNS text
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $f$
SELECT coalesce(string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attname COLLATE "C"), '')
FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
$f$;

-- The table and every partition or inheritance child below it, at any depth.
CREATE FUNCTION pgredis.family(root regclass) RETURNS SETOF regclass
LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $f$
WITH RECURSIVE f(rel) AS (
    SELECT root::oid
    UNION
    SELECT i.inhrelid FROM pg_inherits i JOIN f ON i.inhparent = f.rel
)
SELECT rel::regclass FROM f
$f$;

-- The common prefix of a synced table's trigger function names; the same
-- as notify.FuncName.
CREATE FUNCTION pgredis.func_prefix(schema_name text, table_name text) RETURNS text
LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $f$
SELECT 'pgredis.t_' || left(encode(sha256(convert_to(schema_name, 'UTF8') || '\x00'::bytea || convert_to(table_name, 'UTF8')), 'hex'), 16) || '_'
$f$;

-- A trigger that asks the worker to refresh the synced table named by its
-- argument (schema.table): regenerate its trigger functions if its columns
-- changed, and reconcile it. It needs no privilege: pg_notify is public.
CREATE FUNCTION pgredis.refresh_trigger() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
BEGIN
    PERFORM pg_notify('pgredis', 'c1 refresh 0 0 ' || TG_ARGV[0]);
    RETURN NULL;
END
$f$;

-- Makes every table of a synced table's family capture its writes: the
-- four statement triggers on each, firing ALWAYS (so logical replication
-- apply and session_replication_role = replica are captured), and no
-- pgredis trigger of this table on a table outside the family (a partition
-- detached, the table renamed away). The table's own trigger functions
-- serve its partitions (they name columns, which partitions share), except
-- for TRUNCATE of a part (the table's TRUNCATE function deletes every key)
-- and for an inheritance child with columns of its own (whole-row values
-- would carry them): those ask for a reconcile instead. A disabled trigger
-- is left disabled (whoever disabled it meant it, and it is reported)
-- unless enable is set (migrate up). Returns what it changed.
CREATE FUNCTION pgredis.sync_triggers(schema_name text, table_name text, enable boolean DEFAULT false) RETURNS text[]
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    root regclass := to_regclass(format('%I.%I', schema_name, table_name));
    name text := schema_name || '.' || table_name;
    prefix text := pgredis.func_prefix(schema_name, table_name);
    ops text[] := ARRAY['ins', 'upd', 'del', 'trunc'];
    events text[] := ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'];
    refs text[] := ARRAY['REFERENCING NEW TABLE AS pgredis_new', 'REFERENCING OLD TABLE AS pgredis_old NEW TABLE AS pgredis_new',
        'REFERENCING OLD TABLE AS pgredis_old', ''];
    fns oid[];
    refresh oid := 'pgredis.refresh_trigger()'::regprocedure;
    args bytea := convert_to(name, getdatabaseencoding()) || '\x00'::bytea;
    family regclass[];
    rel regclass;
    own_columns boolean;
    want oid;
    trg record;
    tname text;
    changes text[] := '{}';
    guard text := coalesce(current_setting('pgredis.in_ddl', true), '');
    subscribed boolean := EXISTS (SELECT 1 FROM pg_subscription s
        WHERE s.subdbid = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database()));
BEGIN
    IF root IS NULL THEN
        RETURN changes;
    END IF;
    -- Our own ALTER TABLE ... ENABLE ALWAYS is no DDL for on_ddl to follow.
    PERFORM set_config('pgredis.in_ddl', 'on', true);
    FOR i IN 1..4 LOOP
        fns[i] := to_regprocedure(prefix || ops[i] || '()');
        IF fns[i] IS NULL THEN
            PERFORM set_config('pgredis.in_ddl', guard, true);
            RETURN changes; -- not installed: migrate up's business
        END IF;
    END LOOP;
    family := ARRAY(SELECT pgredis.family(root));
    FOREACH rel IN ARRAY family LOOP
        own_columns := EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = rel AND a.attnum > 0 AND NOT a.attisdropped
            AND NOT EXISTS (SELECT 1 FROM pg_attribute b WHERE b.attrelid = root AND b.attname = a.attname AND b.attnum > 0 AND NOT b.attisdropped));
        FOR i IN 1..4 LOOP
            tname := 'pgredis_' || ops[i];
            IF own_columns OR (i = 4 AND rel <> root) THEN
                want := refresh;
            ELSIF i = 4 AND EXISTS (SELECT 1 FROM pg_class c WHERE c.oid = rel AND c.relkind = 'r')
                AND EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhparent = rel) THEN
                -- TRUNCATE ONLY of an inheritance parent keeps its children's rows.
                want := refresh;
            ELSE
                want := fns[i];
            END IF;
            SELECT g.tgfoid, g.tgenabled, g.tgargs INTO trg FROM pg_trigger g WHERE g.tgrelid = rel AND g.tgname = tname;
            IF NOT FOUND OR trg.tgfoid <> want OR (want = refresh AND trg.tgargs <> args) THEN
                IF want = refresh THEN
                    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s FOR EACH STATEMENT EXECUTE FUNCTION pgredis.refresh_trigger(%L)',
                        tname, events[i], rel, name);
                ELSE
                    EXECUTE format('CREATE OR REPLACE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION %s()',
                        tname, events[i], rel, refs[i], want::regproc);
                END IF;
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, tname);
                changes := changes || format('installed trigger %s on %s', tname, rel);
            ELSIF trg.tgenabled IN ('O', 'R') OR (enable AND trg.tgenabled = 'D') THEN
                EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', rel, tname);
                changes := changes || format('trigger %s on %s set to fire always', tname, rel);
            END IF;
        END LOOP;
    END LOOP;
    -- Logical replication apply fires row triggers only, never statement
    -- triggers: a row trigger that fires in replica mode asks for a
    -- reconcile of the table (one per transaction: PostgreSQL delivers
    -- identical notifications of a transaction once). On a partitioned
    -- table it is cloned to every partition, present and future. A row
    -- trigger costs every write (about half again on a bulk UPDATE, even
    -- when its WHEN is false), so it is there only while the database has
    -- a subscription.
    FOREACH rel IN ARRAY family LOOP
        SELECT g.tgfoid, g.tgenabled, g.tgargs, g.tgparentid INTO trg FROM pg_trigger g WHERE g.tgrelid = rel AND g.tgname = 'pgredis_repl';
        IF FOUND AND trg.tgparentid = 0 AND NOT subscribed THEN
            EXECUTE format('DROP TRIGGER pgredis_repl ON %s', rel);
            changes := changes || format('dropped trigger pgredis_repl from %s (no subscription)', rel);
            CONTINUE;
        END IF;
        CONTINUE WHEN NOT subscribed;
        IF NOT FOUND AND (rel = root OR NOT (SELECT c.relispartition FROM pg_class c WHERE c.oid = rel)) THEN
            EXECUTE format('CREATE TRIGGER pgredis_repl AFTER INSERT OR UPDATE OR DELETE ON %s FOR EACH ROW '
                || 'WHEN (pg_catalog.current_setting(''session_replication_role'') = ''replica'') EXECUTE FUNCTION pgredis.refresh_trigger(%L)', rel, name);
            changes := changes || format('installed trigger pgredis_repl on %s', rel);
        END IF;
        IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = rel AND g.tgname = 'pgredis_repl' AND g.tgenabled <> 'A'
                AND (enable OR g.tgenabled <> 'D')) THEN
            EXECUTE format('ALTER TABLE %s ENABLE ALWAYS TRIGGER pgredis_repl', rel);
        END IF;
    END LOOP;
    FOR trg IN
        SELECT g.tgname, g.tgrelid::regclass AS rel FROM pg_trigger g
        WHERE g.tgname LIKE 'pgredis\_%' AND g.tgparentid = 0 AND NOT g.tgrelid = ANY (family::oid[])
            AND (g.tgfoid = ANY (fns) OR (g.tgfoid = refresh AND g.tgargs = args))
    LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', trg.tgname, trg.rel);
        changes := changes || format('dropped trigger %s from %s', trg.tgname, trg.rel);
    END LOOP;
    PERFORM set_config('pgredis.in_ddl', guard, true);
    RETURN changes;
END
$f$;

-- Swaps a synced table's trigger functions for ones that only ask the
-- worker to refresh the table: after its columns changed, the generated
-- functions may render values for the old types (invalid JSON, keys cast
-- to the old type). The worker regenerates them.
CREATE FUNCTION pgredis.fall_back(schema_name text, table_name text) RETURNS void
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

-- The event trigger: in the DDL's own transaction, a CREATE TABLE or ALTER
-- TABLE of a synced table or of a table in its family gets the family's
-- triggers in place; a column change swaps the functions for the fallback;
-- an ALTER TABLE (ATTACH, DETACH, ENABLE TRIGGER, a rename, a column
-- change) asks the worker to refresh the table. It runs as its owner (a
-- superuser) so any table owner's DDL is followed, and it never fails the
-- DDL: whatever it could not do, the worker's periodic check does.
CREATE FUNCTION pgredis.on_ddl() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    t record;
    altered boolean;
    name text;
BEGIN
    IF current_setting('pgredis.in_ddl', true) = 'on' THEN
        RETURN; -- our own ALTER TABLE ... ENABLE ALWAYS TRIGGER
    END IF;
    PERFORM set_config('pgredis.in_ddl', 'on', true);
    BEGIN
        FOR t IN
            SELECT r.schema_name, r.table_name, to_regclass(format('%I.%I', r.schema_name, r.table_name)) AS root,
                s.shape
            FROM pgredis.tables r
            LEFT JOIN pgredis.shapes s ON s.schema_name = r.schema_name AND s.table_name = r.table_name
        LOOP
            CONTINUE WHEN t.root IS NULL;
            -- DDL on the table's family, or on a table that carries its
            -- triggers but left the family (ALTER TABLE ... NO INHERIT).
            SELECT bool_or(d.command_tag = 'ALTER TABLE') INTO altered FROM pg_event_trigger_ddl_commands() d
            WHERE d.classid = 'pg_class'::regclass AND (d.objid IN (SELECT pgredis.family(t.root))
                OR EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid = d.objid AND g.tgname = 'pgredis_del'
                    AND (g.tgfoid = to_regprocedure(pgredis.func_prefix(t.schema_name, t.table_name) || 'del()')
                        OR g.tgargs = convert_to(t.schema_name || '.' || t.table_name, getdatabaseencoding()) || '\x00'::bytea)));
            CONTINUE WHEN altered IS NULL;
            name := t.schema_name || '.' || t.table_name;
            PERFORM pgredis.sync_triggers(t.schema_name, t.table_name);
            IF t.shape IS NOT NULL AND t.shape <> '' AND t.shape <> pgredis.shape(t.root) THEN
                PERFORM pgredis.fall_back(t.schema_name, t.table_name);
            END IF;
            IF EXISTS (SELECT 1 FROM pg_trigger g WHERE g.tgrelid IN (SELECT pgredis.family(t.root))
                    AND g.tgname LIKE 'pgredis\_%' AND g.tgenabled = 'D') THEN
                RAISE WARNING 'pgredis: a trigger of % is disabled: writes to it are not mirrored to Redis until it is enabled again (then the worker reconciles the table)', name;
            END IF;
            IF altered THEN
                PERFORM pg_notify('pgredis', 'c1 refresh 0 0 ' || name);
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'pgredis: could not follow this DDL on a synced table (%); the worker will', SQLERRM;
    END;
    PERFORM set_config('pgredis.in_ddl', 'off', true);
END
$f$;

-- DROP TABLE of a partition or inheritance child takes its rows away
-- without firing any of its triggers: a synced table that has (or had)
-- parts is reconciled when a table carrying pgredis triggers is dropped.
CREATE FUNCTION pgredis.on_drop() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $f$
DECLARE
    t record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger_dropped_objects() d
            WHERE d.object_type = 'trigger' AND d.object_identity LIKE 'pgredis\_%') THEN
        RETURN;
    END IF;
    FOR t IN
        SELECT r.schema_name, r.table_name FROM pgredis.tables r
        JOIN pg_class c ON c.oid = to_regclass(format('%I.%I', r.schema_name, r.table_name))
        WHERE c.relkind = 'p' OR c.relhassubclass
    LOOP
        PERFORM pg_notify('pgredis', 'c1 refresh 0 0 ' || t.schema_name || '.' || t.table_name);
    END LOOP;
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'pgredis: could not follow this DROP TABLE (%); run pgredis resync', SQLERRM;
END
$f$;

-- CREATE EVENT TRIGGER needs a superuser. Without one, the worker's
-- periodic check does the same, later (README).
DO $do$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user AND rolsuper) THEN
        CREATE EVENT TRIGGER pgredis_ddl ON ddl_command_end WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
            EXECUTE FUNCTION pgredis.on_ddl();
        ALTER EVENT TRIGGER pgredis_ddl ENABLE ALWAYS;
        CREATE EVENT TRIGGER pgredis_drop ON sql_drop WHEN TAG IN ('DROP TABLE')
            EXECUTE FUNCTION pgredis.on_drop();
        ALTER EVENT TRIGGER pgredis_drop ENABLE ALWAYS;
    END IF;
END
$do$;
