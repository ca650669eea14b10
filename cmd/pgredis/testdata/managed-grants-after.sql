-- As {owner}, after pgredis migrate up: the worker reads the synced tables
-- and pgredis's registry.
GRANT USAGE ON SCHEMA pgredis TO {worker};
GRANT SELECT ON ALL TABLES IN SCHEMA pgredis TO {worker};
GRANT SELECT ON {tables} TO {worker};
