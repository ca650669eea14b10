-- What migrate up installed for each table, beyond its spec, so a rerun
-- can tell an unchanged table (and leave it, and its lock, alone) from
-- one to repair: install_hash is a hash of the statements it ran (a new
-- pgredis that generates other trigger SQL reinstalls), catalog_hash a
-- hash of the table's pgredis triggers and functions as the catalog held
-- them right after (a trigger dropped, disabled or a function replaced by
-- hand since is a change). NULL (rows of an older pgredis) means unknown.
ALTER TABLE pgredis.tables ADD COLUMN install_hash text, ADD COLUMN catalog_hash text;
