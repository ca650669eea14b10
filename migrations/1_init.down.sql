DROP TABLE IF EXISTS pgredis.tables;
DROP SEQUENCE IF EXISTS pgredis.seq;
