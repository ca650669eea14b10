ALTER TABLE pgredis.tables DROP COLUMN IF EXISTS install_hash, DROP COLUMN IF EXISTS catalog_hash;
