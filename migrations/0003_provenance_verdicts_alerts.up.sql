-- Provenance signals extracted from each artwork's bytes (hashes, metadata, claims).
CREATE TABLE artwork_signals (
    artwork_id   uuid PRIMARY KEY REFERENCES artworks (id),
    phash        bigint,
    dhash        bigint,
    spectral     double precision,
    ai_claims    jsonb NOT NULL DEFAULT '[]',
    signals      jsonb NOT NULL,
    extracted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX artwork_signals_phash ON artwork_signals (phash);

-- Known works registered by operators (catalogue raisonné entries, museum holdings): a new
-- upload close to one of them is flagged as a near-duplicate of a known work.
CREATE TABLE reference_works (
    id         uuid PRIMARY KEY,
    artist     text NOT NULL,
    title      text NOT NULL DEFAULT '',
    source     text NOT NULL DEFAULT '',
    sha256     text NOT NULL UNIQUE,
    phash      bigint NOT NULL,
    dhash      bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The verdict on a submission, derived from every score and signal, with its reasons in
-- plain words. The raw scores are kept beside it.
CREATE TABLE verdicts (
    submission_id uuid PRIMARY KEY REFERENCES submissions (id),
    verdict       text NOT NULL CHECK (verdict IN ('consistent', 'not_consistent',
                      'suspected_ai_imitation', 'needs_expert_review')),
    reasons       jsonb NOT NULL,
    scores        jsonb NOT NULL,
    policy        jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Attribution: the submission scored against every active artist model, ranked.
CREATE TABLE attributions (
    submission_id uuid NOT NULL REFERENCES submissions (id),
    rank          integer NOT NULL,
    artist        text NOT NULL,
    model_version text NOT NULL,
    probability   double precision NOT NULL,
    share         double precision NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (submission_id, artist)
);

-- Alerts, one per artwork and reason: a second submission of the same image for the same
-- reason does not alert again.
CREATE TABLE alerts (
    id            uuid PRIMARY KEY,
    artwork_id    uuid NOT NULL REFERENCES artworks (id),
    submission_id uuid REFERENCES submissions (id),
    reason        text NOT NULL,
    details       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (artwork_id, reason)
);

-- Webhook deliveries of alerts, retried with back-off.
CREATE TABLE webhook_deliveries (
    alert_id        uuid PRIMARY KEY REFERENCES alerts (id),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_status     integer,
    last_error      text
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;

-- A submission may ask for attribution across all artists.
ALTER TABLE submissions ADD COLUMN attribute boolean NOT NULL DEFAULT false;
