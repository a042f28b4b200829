-- The model registry: every version is registered (staged), at most one per artist is active,
-- and versions that were replaced are retired but kept for rollback and for the results that
-- name them.
ALTER TABLE models
    ALTER COLUMN state SET DEFAULT 'staged',
    ADD COLUMN metrics      jsonb NOT NULL DEFAULT '{}',
    ADD COLUMN activated_at timestamptz,
    ADD COLUMN retired_at   timestamptz;
UPDATE models SET activated_at = created_at WHERE state = 'active';
-- Older rows may hold several active versions of an artist; keep the newest active.
UPDATE models m SET state = 'retired', retired_at = now()
    WHERE state = 'active' AND EXISTS (SELECT 1 FROM models n WHERE n.artist = m.artist
        AND n.state = 'active' AND n.created_at > m.created_at);
CREATE UNIQUE INDEX models_one_active ON models (artist) WHERE state = 'active';

-- Evaluations of a model version, as `authctl eval` prints them.
CREATE TABLE model_evaluations (
    id          bigserial PRIMARY KEY,
    artist      text NOT NULL,
    version     text NOT NULL,
    dataset     text NOT NULL,
    report      jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (artist, version) REFERENCES models (artist, version)
);
