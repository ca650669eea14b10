DROP FUNCTION IF EXISTS pgredis.barrier();
DROP TABLE IF EXISTS pgredis.barriers;
DROP TABLE IF EXISTS pgredis.barrier_prefix;
REVOKE USAGE ON SCHEMA pgredis FROM PUBLIC;
