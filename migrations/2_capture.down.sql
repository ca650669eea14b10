DROP EVENT TRIGGER IF EXISTS pgredis_ddl;
DROP FUNCTION IF EXISTS pgredis.on_ddl();
DROP FUNCTION IF EXISTS pgredis.fall_back(text, text);
DROP FUNCTION IF EXISTS pgredis.sync_triggers(text, text, boolean);
DROP FUNCTION IF EXISTS pgredis.refresh_trigger();
DROP FUNCTION IF EXISTS pgredis.func_prefix(text, text);
DROP FUNCTION IF EXISTS pgredis.family(regclass);
DROP FUNCTION IF EXISTS pgredis.shape(regclass);
DROP TABLE IF EXISTS pgredis.shapes;
