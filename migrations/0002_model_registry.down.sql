DROP TABLE IF EXISTS model_evaluations;
DROP INDEX IF EXISTS models_one_active;
ALTER TABLE models
    DROP COLUMN IF EXISTS metrics,
    DROP COLUMN IF EXISTS activated_at,
    DROP COLUMN IF EXISTS retired_at,
    ALTER COLUMN state SET DEFAULT 'active';
