-- Or (least privilege), as {owner} after pgredis migrate up: the worker
-- reads the synced tables and pgredis's registry, drains the capture queue
-- and records its state prefix; partitions added later are reported and
-- reconciled at every check until pgredis migrate up runs as {owner}.
GRANT USAGE ON SCHEMA pgredis TO {worker};
GRANT SELECT ON ALL TABLES IN SCHEMA pgredis TO {worker};
GRANT UPDATE ON pgredis.barrier_prefix TO {worker};
GRANT EXECUTE ON FUNCTION pgredis.drain(integer), pgredis.discard_queue() TO {worker};
GRANT SELECT ON {tables} TO {worker};
