DROP FUNCTION IF EXISTS pgredis.queue_depth();
DROP FUNCTION IF EXISTS pgredis.discard_queue();
DROP FUNCTION IF EXISTS pgredis.drain(integer);
DROP FUNCTION IF EXISTS pgredis.enqueue(text);
DROP FUNCTION IF EXISTS pgredis.queueing();
DROP SEQUENCE IF EXISTS pgredis.queue_drained;
DROP TABLE IF EXISTS pgredis.queue;
ALTER SEQUENCE IF EXISTS pgredis.seq CACHE 100;
