ALTER TABLE submissions DROP COLUMN IF EXISTS attribute;
DROP TABLE IF EXISTS webhook_deliveries;
DROP TABLE IF EXISTS alerts;
DROP TABLE IF EXISTS attributions;
DROP TABLE IF EXISTS verdicts;
DROP TABLE IF EXISTS reference_works;
DROP TABLE IF EXISTS artwork_signals;
