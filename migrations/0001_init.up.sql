-- Artworks are unique images, addressed by the SHA-256 of their original bytes.
CREATE TABLE artworks (
    id          uuid PRIMARY KEY,
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size_bytes  bigint NOT NULL CHECK (size_bytes > 0),
    format      text NOT NULL,
    width       integer NOT NULL CHECK (width > 0),
    height      integer NOT NULL CHECK (height > 0),
    bucket      text NOT NULL,
    object_key  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- A submission is one claim about an artwork ("this is a Monet"), from one source.
CREATE TABLE submissions (
    id               uuid PRIMARY KEY,
    artwork_id       uuid NOT NULL REFERENCES artworks (id),
    claimed_artist   text NOT NULL CHECK (claimed_artist ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    title            text NOT NULL DEFAULT '',
    external_ref     text NOT NULL DEFAULT '',
    submitter        text NOT NULL DEFAULT '',
    provenance_notes text NOT NULL DEFAULT '',
    source           text NOT NULL CHECK (source IN ('api', 's3', 'rescan')),
    status           text NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'classified', 'failed')),
    failure_reason   text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
-- The same bytes claimed for the same artist are one question, asked once: a re-upload or a
-- second notification finds the existing submission. Rescans ask again on purpose.
CREATE UNIQUE INDEX submissions_claim ON submissions (artwork_id, claimed_artist)
    WHERE source <> 'rescan';
CREATE INDEX submissions_external_ref ON submissions (external_ref) WHERE external_ref <> '';

-- Objects seen through S3 bucket notifications, one row per object version, so a notification
-- delivered twice enqueues nothing new.
CREATE TABLE s3_objects (
    bucket        text NOT NULL,
    object_key    text NOT NULL,
    version       text NOT NULL, -- the version ID where the bucket keeps versions, else the ETag
    submission_id uuid REFERENCES submissions (id),
    outcome       text NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (bucket, object_key, version)
);

-- Models known to the system. Workers record each model they load, with its file hash.
CREATE TABLE models (
    artist      text NOT NULL,
    version     text NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    arch        text NOT NULL,
    threshold   double precision NOT NULL CHECK (threshold > 0 AND threshold < 1),
    location    text NOT NULL,
    metadata    jsonb NOT NULL,
    state       text NOT NULL DEFAULT 'active' CHECK (state IN ('staged', 'active', 'retired')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (artist, version)
);

-- One classification result per submission: a redelivered message cannot add a second.
CREATE TABLE results (
    id              bigserial PRIMARY KEY,
    submission_id   uuid NOT NULL UNIQUE REFERENCES submissions (id),
    artwork_sha256  text NOT NULL,
    model_artist    text NOT NULL,
    model_version   text NOT NULL,
    model_sha256    text NOT NULL,
    logit           real NOT NULL,
    score           double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    threshold       double precision NOT NULL,
    decision        text NOT NULL CHECK (decision IN ('artist', 'not_artist')),
    latency_ms      double precision NOT NULL,
    batch_size      integer NOT NULL,
    device          text NOT NULL,
    worker          text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (model_artist, model_version) REFERENCES models (artist, version)
);

-- Failures: permanent ones (bad image, unknown artist) and dead letters (deliveries exhausted).
CREATE TABLE failures (
    id            bigserial PRIMARY KEY,
    submission_id uuid REFERENCES submissions (id),
    stage         text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('permanent', 'dead_letter')),
    reason        text NOT NULL,
    stream        text,
    stream_seq    bigint,
    subject       text,
    deliveries    integer,
    payload       bytea,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX failures_message ON failures (stream, stream_seq) WHERE stream_seq IS NOT NULL;
CREATE INDEX failures_submission ON failures (submission_id);

-- Transactional outbox: events written in the same transaction as the rows they announce,
-- published to JetStream by a relay afterwards.
CREATE TABLE outbox (
    id           bigserial PRIMARY KEY,
    subject      text NOT NULL,
    msg_id       text NOT NULL,
    payload      bytea NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();
