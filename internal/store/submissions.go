package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Artwork is one unique image, addressed by the SHA-256 of its bytes.
type Artwork struct {
	ID        uuid.UUID `json:"id"`
	SHA256    string    `json:"sha256"`
	SizeBytes int64     `json:"size_bytes"`
	Format    string    `json:"format"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	Bucket    string    `json:"bucket"`
	ObjectKey string    `json:"object_key"`
	CreatedAt time.Time `json:"created_at"`
	// Existed is set by CreateSubmission when the same bytes had been stored before.
	Existed bool `json:"-"`
}

// Submission statuses.
const (
	StatusQueued     = "queued"
	StatusClassified = "classified"
	StatusFailed     = "failed"
)

// Submission sources.
const (
	SourceAPI    = "api"
	SourceS3     = "s3"
	SourceRescan = "rescan"
)

// Submission is one claim about an artwork, from one source.
type Submission struct {
	ID              uuid.UUID `json:"id"`
	ArtworkID       uuid.UUID `json:"artwork_id"`
	ClaimedArtist   string    `json:"claimed_artist"`
	Title           string    `json:"title"`
	ExternalRef     string    `json:"external_ref"`
	Submitter       string    `json:"submitter"`
	ProvenanceNotes string    `json:"provenance_notes"`
	Source          string    `json:"source"`
	Attribute       bool      `json:"attribute"`
	Status          string    `json:"status"`
	FailureReason   string    `json:"failure_reason,omitempty"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// OutboxMessage is an event to publish once the transaction that wrote it commits.
type OutboxMessage struct {
	ID      int64
	Subject string
	MsgID   string
	Payload []byte
}

// S3Object identifies one version of an object announced by a bucket notification.
type S3Object struct {
	Bucket  string
	Key     string
	Version string // version ID, or the ETag where the bucket keeps no versions
}

// NewSubmission is what CreateSubmission records.
type NewSubmission struct {
	Artwork    Artwork
	Submission Submission
	// Object, when set, is the notified S3 object version this submission comes from.
	Object *S3Object
	// Message builds the classification event from the stored rows. It is called only when a
	// new submission was created.
	Message func(Artwork, Submission) (OutboxMessage, error)
}

const submissionCols = `id, artwork_id, claimed_artist, title, external_ref, submitter,
	provenance_notes, source, attribute, status, coalesce(failure_reason, ''), created_at,
	updated_at`

func scanSubmission(row pgx.Row) (Submission, error) {
	var s Submission
	err := row.Scan(&s.ID, &s.ArtworkID, &s.ClaimedArtist, &s.Title, &s.ExternalRef, &s.Submitter,
		&s.ProvenanceNotes, &s.Source, &s.Attribute, &s.Status, &s.FailureReason, &s.CreatedAt,
		&s.UpdatedAt)
	return s, err
}

// CreateSubmission records the artwork (found by hash when it exists), the submission and its
// classification event in one transaction, so the rows and the event cannot diverge. The same
// bytes claimed again for the same artist return the existing submission and created=false,
// with no new event. With ns.Object set, a second call for the same object version returns
// ErrDuplicateObject and changes nothing.
func (s *Store) CreateSubmission(ctx context.Context, ns NewSubmission) (
	Artwork, Submission, bool, error) {
	var (
		art     = ns.Artwork
		sub     = ns.Submission
		created bool
	)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if o := ns.Object; o != nil {
			tag, err := tx.Exec(ctx, `INSERT INTO s3_objects (bucket, object_key, version, outcome)
				VALUES ($1, $2, $3, 'received') ON CONFLICT DO NOTHING`, o.Bucket, o.Key, o.Version)
			if err != nil {
				return fmt.Errorf("insert s3 object %s/%s: %w", o.Bucket, o.Key, err)
			}
			if tag.RowsAffected() == 0 {
				return ErrDuplicateObject
			}
		}

		if art.ID == uuid.Nil {
			art.ID = uuid.New()
		}
		// The no-op update makes RETURNING give the existing row on conflict.
		err := tx.QueryRow(ctx, `INSERT INTO artworks
				(id, sha256, size_bytes, format, width, height, bucket, object_key)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256
			RETURNING id, bucket, object_key, created_at, xmax <> 0`,
			art.ID, art.SHA256, art.SizeBytes, art.Format, art.Width, art.Height, art.Bucket,
			art.ObjectKey).Scan(&art.ID, &art.Bucket, &art.ObjectKey, &art.CreatedAt,
			&art.Existed)
		if err != nil {
			return fmt.Errorf("insert artwork %s: %w", art.SHA256, err)
		}

		if sub.ID == uuid.Nil {
			sub.ID = uuid.New()
		}
		sub.ArtworkID = art.ID
		inserted, err := scanSubmission(tx.QueryRow(ctx, `INSERT INTO submissions
				(id, artwork_id, claimed_artist, title, external_ref, submitter, provenance_notes,
				 source, attribute)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (artwork_id, claimed_artist) WHERE source <> 'rescan' DO NOTHING
			RETURNING `+submissionCols,
			sub.ID, sub.ArtworkID, sub.ClaimedArtist, sub.Title, sub.ExternalRef, sub.Submitter,
			sub.ProvenanceNotes, sub.Source, sub.Attribute))
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			sub, err = scanSubmission(tx.QueryRow(ctx, `SELECT `+submissionCols+`
				FROM submissions WHERE artwork_id = $1 AND claimed_artist = $2
				AND source <> 'rescan'`, art.ID, sub.ClaimedArtist))
			if err != nil {
				return fmt.Errorf("find existing submission for artwork %s: %w", art.ID, err)
			}
		case err != nil:
			return fmt.Errorf("insert submission: %w", err)
		default:
			sub, created = inserted, true
		}

		if o := ns.Object; o != nil {
			outcome := "duplicate_claim"
			if created {
				outcome = "submitted"
			}
			if _, err := tx.Exec(ctx, `UPDATE s3_objects SET submission_id = $4, outcome = $5
				WHERE bucket = $1 AND object_key = $2 AND version = $3`,
				o.Bucket, o.Key, o.Version, sub.ID, outcome); err != nil {
				return fmt.Errorf("link s3 object to submission: %w", err)
			}
		}
		if !created {
			return nil
		}
		msg, err := ns.Message(art, sub)
		if err != nil {
			return err
		}
		return insertOutbox(ctx, tx, msg)
	})
	if err != nil {
		return Artwork{}, Submission{}, false, err
	}
	return art, sub, created, nil
}

// ObjectSeen reports whether an S3 object version was already received.
func (s *Store) ObjectSeen(ctx context.Context, o S3Object) (bool, error) {
	var seen bool
	err := s.Pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM s3_objects
		WHERE bucket = $1 AND object_key = $2 AND version = $3)`,
		o.Bucket, o.Key, o.Version).Scan(&seen)
	if err != nil {
		return false, fmt.Errorf("look up s3 object %s/%s: %w", o.Bucket, o.Key, err)
	}
	return seen, nil
}

// RecordRejectedObject remembers an S3 object version that was not submitted (not an image,
// no claimed artist, ...) so that a repeated notification is not examined again.
func (s *Store) RecordRejectedObject(ctx context.Context, o S3Object, outcome string) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO s3_objects (bucket, object_key, version, outcome)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, o.Bucket, o.Key, o.Version, outcome)
	if err != nil {
		return fmt.Errorf("record rejected s3 object %s/%s: %w", o.Bucket, o.Key, err)
	}
	return nil
}

// SubmissionView is a submission with its artwork, its result and its failures.
type SubmissionView struct {
	Submission
	Artwork      Artwork         `json:"artwork"`
	Result       *Result         `json:"result,omitempty"`
	Verdict      *Verdict        `json:"verdict,omitempty"`
	Attributions []Attribution   `json:"attributions,omitempty"`
	Alerts       []Alert         `json:"alerts,omitempty"`
	Signals      json.RawMessage `json:"signals,omitempty"`
	Failures     []Failure       `json:"failures,omitempty"`
}

// GetSubmission returns the submission with the given ID, or ErrNotFound.
func (s *Store) GetSubmission(ctx context.Context, id uuid.UUID) (SubmissionView, error) {
	var v SubmissionView
	sub, err := scanSubmission(s.Pool.QueryRow(ctx,
		`SELECT `+submissionCols+` FROM submissions WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return v, fmt.Errorf("submission %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return v, fmt.Errorf("read submission %s: %w", id, err)
	}
	v.Submission = sub
	a := &v.Artwork
	err = s.Pool.QueryRow(ctx, `SELECT id, sha256, size_bytes, format, width, height, bucket,
		object_key, created_at FROM artworks WHERE id = $1`, sub.ArtworkID).Scan(&a.ID, &a.SHA256,
		&a.SizeBytes, &a.Format, &a.Width, &a.Height, &a.Bucket, &a.ObjectKey, &a.CreatedAt)
	if err != nil {
		return v, fmt.Errorf("read artwork %s: %w", sub.ArtworkID, err)
	}
	res, err := s.resultsFor(ctx, []uuid.UUID{id})
	if err != nil {
		return v, err
	}
	if r, ok := res[id]; ok {
		v.Result = &r
	}
	if v.Failures, err = s.failuresFor(ctx, id); err != nil {
		return v, err
	}
	return v, s.fillVerdict(ctx, &v)
}

// fillVerdict adds the verdict, attributions, alerts and signals to a view.
func (s *Store) fillVerdict(ctx context.Context, v *SubmissionView) error {
	var vd Verdict
	err := s.Pool.QueryRow(ctx, `SELECT submission_id, verdict, reasons, scores, policy,
		created_at FROM verdicts WHERE submission_id = $1`, v.ID).Scan(&vd.SubmissionID,
		&vd.Verdict, &vd.Reasons, &vd.Scores, &vd.Policy, &vd.CreatedAt)
	switch {
	case err == nil:
		v.Verdict = &vd
	case !errors.Is(err, pgx.ErrNoRows):
		return fmt.Errorf("read verdict of %s: %w", v.ID, err)
	}
	rows, err := s.Pool.Query(ctx, `SELECT rank, artist, model_version, probability, share
		FROM attributions WHERE submission_id = $1 ORDER BY rank`, v.ID)
	if err != nil {
		return fmt.Errorf("read attributions of %s: %w", v.ID, err)
	}
	v.Attributions, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Attribution])
	if err != nil {
		return fmt.Errorf("read attributions of %s: %w", v.ID, err)
	}
	if v.Alerts, err = s.AlertsFor(ctx, v.ArtworkID); err != nil {
		return err
	}
	err = s.Pool.QueryRow(ctx, `SELECT signals FROM artwork_signals WHERE artwork_id = $1`,
		v.ArtworkID).Scan(&v.Signals)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("read signals of %s: %w", v.ArtworkID, err)
	}
	return nil
}
