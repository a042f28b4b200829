package store

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Decisions a per-artist model can give.
const (
	DecisionArtist    = "artist"
	DecisionNotArtist = "not_artist"
)

// Result is the classification of one submission by its claimed artist's model.
type Result struct {
	SubmissionID  uuid.UUID `json:"submission_id"`
	ArtworkSHA256 string    `json:"artwork_sha256"`
	ModelArtist   string    `json:"model_artist"`
	ModelVersion  string    `json:"model_version"`
	ModelSHA256   string    `json:"model_sha256"`
	Logit         float32   `json:"logit"`
	Score         float64   `json:"score"`
	Threshold     float64   `json:"threshold"`
	Decision      string    `json:"decision"`
	LatencyMS     float64   `json:"latency_ms"`
	BatchSize     int       `json:"batch_size"`
	Device        string    `json:"device"`
	Worker        string    `json:"worker"`
	CreatedAt     time.Time `json:"created_at"`
}

// ClassifiedAmong returns the subset of ids that already have a result.
func (s *Store) ClassifiedAmong(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]bool, error) {
	rows, err := s.Pool.Query(ctx,
		`SELECT submission_id FROM results WHERE submission_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("look up existing results: %w", err)
	}
	done := map[uuid.UUID]bool{}
	for rows.Next() {
		var id uuid.UUID
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("scan existing result: %w", err)
		}
		done[id] = true
	}
	return done, rows.Err()
}

func (s *Store) resultsFor(ctx context.Context, ids []uuid.UUID) (map[uuid.UUID]Result, error) {
	rows, err := s.Pool.Query(ctx, `SELECT submission_id, artwork_sha256, model_artist,
		model_version, model_sha256, logit, score, threshold, decision, latency_ms, batch_size,
		device, worker, created_at FROM results WHERE submission_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("read results: %w", err)
	}
	out := map[uuid.UUID]Result{}
	for rows.Next() {
		var r Result
		if err := rows.Scan(&r.SubmissionID, &r.ArtworkSHA256, &r.ModelArtist, &r.ModelVersion,
			&r.ModelSHA256, &r.Logit, &r.Score, &r.Threshold, &r.Decision, &r.LatencyMS,
			&r.BatchSize, &r.Device, &r.Worker, &r.CreatedAt); err != nil {
			return nil, fmt.Errorf("scan result: %w", err)
		}
		out[r.SubmissionID] = r
	}
	return out, rows.Err()
}
