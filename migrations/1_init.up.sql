-- pgredis keeps everything of its own in the pgredis schema, which
-- migrate up creates before running migrations (the migrations record
-- lives there too).

-- Makes every notification distinct; see notify.header.
CREATE SEQUENCE pgredis.seq CACHE 100;

-- The registry of synced tables: what migrate up installed, and how the
-- worker renders rows in a reconcile exactly as the trigger does.
CREATE TABLE pgredis.tables (
    schema_name  text        NOT NULL,
    table_name   text        NOT NULL,
    spec         text        NOT NULL,
    key_template text        NOT NULL,
    version      text        NOT NULL,
    render_sql   text        NOT NULL,
    fetch_sql    text        NOT NULL,
    installed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name)
);
