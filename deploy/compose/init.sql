-- The application's own table, which compose.yaml's PGREDIS_TABLES syncs.
CREATE TABLE IF NOT EXISTS products (
	id int PRIMARY KEY,
	name text NOT NULL,
	price numeric(10, 2)
);
