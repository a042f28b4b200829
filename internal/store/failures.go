package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// Failure kinds.
const (
	// FailurePermanent is a message that can never succeed (undecodable image, unknown artist).
	FailurePermanent = "permanent"
	// FailureDeadLetter is a message that exhausted its deliveries on transient errors.
	FailureDeadLetter = "dead_letter"
)

// Failure records why a message or a submission could not be processed.
type Failure struct {
	SubmissionID *uuid.UUID `json:"submission_id,omitempty"`
	Stage        string     `json:"stage"`
	Kind         string     `json:"kind"`
	Reason       string     `json:"reason"`
	Stream       string     `json:"stream,omitempty"`
	StreamSeq    uint64     `json:"stream_seq,omitempty"`
	Subject      string     `json:"subject,omitempty"`
	Deliveries   int        `json:"deliveries,omitempty"`
	Payload      []byte     `json:"-"`
	CreatedAt    time.Time  `json:"created_at"`
}

// RecordFailure stores f and, when it names a submission still queued, marks that submission
// failed with f's reason. Recording the same stream message twice keeps the first row.
func (s *Store) RecordFailure(ctx context.Context, f Failure) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var seq *int64
		if f.StreamSeq > 0 {
			v := int64(f.StreamSeq)
			seq = &v
		}
		_, err := tx.Exec(ctx, `INSERT INTO failures (submission_id, stage, kind, reason, stream,
				stream_seq, subject, deliveries, payload)
			VALUES ($1, $2, $3, $4, nullif($5, ''), $6, nullif($7, ''), $8, $9)
			ON CONFLICT (stream, stream_seq) WHERE stream_seq IS NOT NULL DO NOTHING`,
			f.SubmissionID, f.Stage, f.Kind, f.Reason, f.Stream, seq, f.Subject, f.Deliveries,
			f.Payload)
		if err != nil {
			return fmt.Errorf("insert %s failure (%s): %w", f.Kind, f.Reason, err)
		}
		if f.SubmissionID == nil {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE submissions SET status = 'failed', failure_reason = $2,
			updated_at = now() WHERE id = $1 AND status = 'queued'`, *f.SubmissionID, f.Reason)
		if err != nil {
			return fmt.Errorf("mark submission %s failed: %w", *f.SubmissionID, err)
		}
		return nil
	})
}

func (s *Store) failuresFor(ctx context.Context, id uuid.UUID) ([]Failure, error) {
	rows, err := s.Pool.Query(ctx, `SELECT submission_id, stage, kind, reason,
		coalesce(stream, ''), coalesce(stream_seq, 0), coalesce(subject, ''),
		coalesce(deliveries, 0), created_at
		FROM failures WHERE submission_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("read failures of submission %s: %w", id, err)
	}
	var out []Failure
	for rows.Next() {
		var f Failure
		var seq int64
		if err := rows.Scan(&f.SubmissionID, &f.Stage, &f.Kind, &f.Reason, &f.Stream, &seq,
			&f.Subject, &f.Deliveries, &f.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan failure: %w", err)
		}
		f.StreamSeq = uint64(seq)
		out = append(out, f)
	}
	return out, rows.Err()
}
