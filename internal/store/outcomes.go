package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ArtworkSignals are the provenance signals of one artwork.
type ArtworkSignals struct {
	ArtworkID uuid.UUID
	PHash     int64
	DHash     int64
	Spectral  float64
	AIClaims  json.RawMessage
	Signals   json.RawMessage
}

// Verdict is the fused judgement on a submission, with its reasons and the raw scores.
type Verdict struct {
	SubmissionID uuid.UUID       `json:"submission_id"`
	Verdict      string          `json:"verdict"`
	Reasons      json.RawMessage `json:"reasons"`
	Scores       json.RawMessage `json:"scores"`
	Policy       json.RawMessage `json:"policy"`
	CreatedAt    time.Time       `json:"created_at"`
}

// Attribution is one candidate artist for a submission.
type Attribution struct {
	Rank         int     `json:"rank"`
	Artist       string  `json:"artist"`
	ModelVersion string  `json:"model_version"`
	Probability  float64 `json:"probability"`
	Share        float64 `json:"share"`
}

// RankAttributions orders candidates by probability (ties by artist name), numbers them
// from 1 and adds each one's share of the summed probabilities; it keeps at most max of them
// (all when max <= 0). The binary models' probabilities are calibrated one by one, so the
// share is the figure comparable across artists. The worker and `authctl attribution` rank
// with it.
func RankAttributions(cands []Attribution, max int) []Attribution {
	sort.Slice(cands, func(i, j int) bool {
		if cands[i].Probability != cands[j].Probability {
			return cands[i].Probability > cands[j].Probability
		}
		return cands[i].Artist < cands[j].Artist
	})
	var total float64
	for _, c := range cands {
		total += c.Probability
	}
	for i := range cands {
		cands[i].Rank = i + 1
		if total > 0 {
			cands[i].Share = cands[i].Probability / total
		}
	}
	if max > 0 && len(cands) > max {
		cands = cands[:max]
	}
	return cands
}

// Alert is raised for an artwork once per reason.
type Alert struct {
	ID           uuid.UUID       `json:"id"`
	ArtworkID    uuid.UUID       `json:"artwork_id"`
	SubmissionID *uuid.UUID      `json:"submission_id,omitempty"`
	Reason       string          `json:"reason"`
	Details      json.RawMessage `json:"details"`
	CreatedAt    time.Time       `json:"created_at"`
}

// AlertMessage builds the event announcing a new alert. It is set by the caller so that the
// store stays ignorant of subjects and schemas.
type AlertMessage func(Alert) (OutboxMessage, error)

// Outcome is everything the worker learned about one submission.
type Outcome struct {
	Result       Result
	Signals      *ArtworkSignals
	Verdict      *Verdict
	Attributions []Attribution
	Alerts       []Alert
}

// SaveOutcomes writes the outcomes of a batch in one transaction: results (the first result
// of a submission wins, so redeliveries are harmless), signals, verdicts, attributions, and
// alerts with their events and webhook deliveries. An alert already raised for the same
// artwork and reason is not raised again. It returns the alerts that were new.
func (s *Store) SaveOutcomes(ctx context.Context, outs []Outcome, msg AlertMessage,
	webhooks bool) ([]Alert, error) {
	var raised []Alert
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		raised = raised[:0]
		for _, o := range outs {
			r := o.Result
			tag, err := tx.Exec(ctx, `INSERT INTO results (submission_id, artwork_sha256,
					model_artist, model_version, model_sha256, logit, score, threshold, decision,
					latency_ms, batch_size, device, worker)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (submission_id) DO NOTHING`,
				r.SubmissionID, r.ArtworkSHA256, r.ModelArtist, r.ModelVersion, r.ModelSHA256,
				r.Logit, r.Score, r.Threshold, r.Decision, r.LatencyMS, r.BatchSize, r.Device,
				r.Worker)
			if err != nil {
				return fmt.Errorf("insert result for submission %s: %w", r.SubmissionID, err)
			}
			if tag.RowsAffected() == 0 {
				continue // scored before: keep everything as it was
			}
			if _, err := tx.Exec(ctx, `UPDATE submissions SET status = 'classified',
				failure_reason = NULL, updated_at = now() WHERE id = $1`, r.SubmissionID); err != nil {
				return fmt.Errorf("mark submission %s classified: %w", r.SubmissionID, err)
			}
			if sg := o.Signals; sg != nil {
				if _, err := tx.Exec(ctx, `INSERT INTO artwork_signals (artwork_id, phash, dhash,
						spectral, ai_claims, signals) VALUES ($1, $2, $3, $4, $5, $6)
					ON CONFLICT (artwork_id) DO NOTHING`, sg.ArtworkID, sg.PHash, sg.DHash,
					sg.Spectral, nonNullJSON(sg.AIClaims, "[]"), sg.Signals); err != nil {
					return fmt.Errorf("insert signals of artwork %s: %w", sg.ArtworkID, err)
				}
			}
			if v := o.Verdict; v != nil {
				if _, err := tx.Exec(ctx, `INSERT INTO verdicts (submission_id, verdict, reasons,
						scores, policy) VALUES ($1, $2, $3, $4, $5)`, r.SubmissionID, v.Verdict,
					v.Reasons, v.Scores, v.Policy); err != nil {
					return fmt.Errorf("insert verdict of %s: %w", r.SubmissionID, err)
				}
			}
			for _, a := range o.Attributions {
				if _, err := tx.Exec(ctx, `INSERT INTO attributions (submission_id, rank, artist,
						model_version, probability, share) VALUES ($1, $2, $3, $4, $5, $6)`,
					r.SubmissionID, a.Rank, a.Artist, a.ModelVersion, a.Probability,
					a.Share); err != nil {
					return fmt.Errorf("insert attribution of %s: %w", r.SubmissionID, err)
				}
			}
			for _, a := range o.Alerts {
				ok, err := raiseAlert(ctx, tx, &a, msg, webhooks)
				if err != nil {
					return err
				}
				if ok {
					raised = append(raised, a)
				}
			}
		}
		return nil
	})
	return raised, err
}

// RaiseAlert records one alert outside a batch (ingest's duplicate uploads). It returns
// false when the artwork already has an alert for the reason.
func (s *Store) RaiseAlert(ctx context.Context, a Alert, msg AlertMessage,
	webhooks bool) (bool, error) {
	var ok bool
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		ok, err = raiseAlert(ctx, tx, &a, msg, webhooks)
		return err
	})
	return ok, err
}

func raiseAlert(ctx context.Context, tx pgx.Tx, a *Alert, msg AlertMessage,
	webhooks bool) (bool, error) {
	if a.ID == uuid.Nil {
		a.ID = uuid.New()
	}
	err := tx.QueryRow(ctx, `INSERT INTO alerts (id, artwork_id, submission_id, reason, details)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (artwork_id, reason) DO NOTHING
		RETURNING created_at`, a.ID, a.ArtworkID, a.SubmissionID, a.Reason,
		nonNullJSON(a.Details, "{}")).Scan(&a.CreatedAt)
	if err == pgx.ErrNoRows {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert alert %s for artwork %s: %w", a.Reason, a.ArtworkID, err)
	}
	if msg != nil {
		m, err := msg(*a)
		if err != nil {
			return false, err
		}
		if err := insertOutbox(ctx, tx, m); err != nil {
			return false, err
		}
	}
	if webhooks {
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (alert_id) VALUES ($1)`,
			a.ID); err != nil {
			return false, fmt.Errorf("queue webhook for alert %s: %w", a.ID, err)
		}
	}
	return true, nil
}

func nonNullJSON(b json.RawMessage, def string) json.RawMessage {
	if len(b) == 0 || string(b) == "null" {
		return json.RawMessage(def)
	}
	return b
}

// Duplicate is an earlier artwork or a reference work close to a new one.
type Duplicate struct {
	Kind      string    `json:"kind"` // "artwork" or "reference"
	ID        uuid.UUID `json:"id"`
	SHA256    string    `json:"sha256"`
	Distance  int       `json:"distance"`
	Artist    string    `json:"artist,omitempty"`
	Title     string    `json:"title,omitempty"`
	Identical bool      `json:"identical"`
}

// NearDuplicates returns earlier artworks and reference works whose perceptual hash is within
// maxDistance bits of phash, closest first, excluding the artwork itself.
//
// It scans the hash columns; a BK-tree or a multi-index hash table replaces the scan once the
// tables hold millions of rows.
func (s *Store) NearDuplicates(ctx context.Context, artworkID uuid.UUID, sha string,
	phash int64, maxDistance int) ([]Duplicate, error) {
	rows, err := s.Pool.Query(ctx, `
		SELECT 'artwork', a.id, a.sha256, bit_count((g.phash # $2)::bit(64))::int AS d,
			'', ''
		FROM artwork_signals g JOIN artworks a ON a.id = g.artwork_id
		WHERE g.artwork_id <> $1 AND bit_count((g.phash # $2)::bit(64)) <= $3
		UNION ALL
		SELECT 'reference', r.id, r.sha256, bit_count((r.phash # $2)::bit(64))::int AS d,
			r.artist, r.title
		FROM reference_works r WHERE bit_count((r.phash # $2)::bit(64)) <= $3
		ORDER BY d LIMIT 10`, artworkID, phash, maxDistance)
	if err != nil {
		return nil, fmt.Errorf("near-duplicate lookup: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Duplicate, error) {
		var d Duplicate
		err := r.Scan(&d.Kind, &d.ID, &d.SHA256, &d.Distance, &d.Artist, &d.Title)
		d.Identical = d.SHA256 == sha
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("near-duplicate lookup: %w", err)
	}
	return out, nil
}

// ReferenceWork is a known work registered by an operator.
type ReferenceWork struct {
	ID     uuid.UUID `json:"id"`
	Artist string    `json:"artist"`
	Title  string    `json:"title"`
	Source string    `json:"source"`
	SHA256 string    `json:"sha256"`
	PHash  int64     `json:"phash"`
	DHash  int64     `json:"dhash"`
}

// AddReferenceWork records a known work; the same bytes twice keep the first record.
func (s *Store) AddReferenceWork(ctx context.Context, w ReferenceWork) (ReferenceWork, error) {
	if w.ID == uuid.Nil {
		w.ID = uuid.New()
	}
	err := s.Pool.QueryRow(ctx, `INSERT INTO reference_works (id, artist, title, source, sha256,
			phash, dhash) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (sha256) DO UPDATE SET sha256 = excluded.sha256 RETURNING id`,
		w.ID, w.Artist, w.Title, w.Source, w.SHA256, w.PHash, w.DHash).Scan(&w.ID)
	if err != nil {
		return w, fmt.Errorf("add reference work %s: %w", w.SHA256, err)
	}
	return w, nil
}

// AlertsFor returns the alerts of an artwork, oldest first.
func (s *Store) AlertsFor(ctx context.Context, artworkID uuid.UUID) ([]Alert, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id, artwork_id, submission_id, reason, details,
		created_at FROM alerts WHERE artwork_id = $1 ORDER BY created_at`, artworkID)
	if err != nil {
		return nil, fmt.Errorf("read alerts of %s: %w", artworkID, err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Alert, error) {
		var a Alert
		err := r.Scan(&a.ID, &a.ArtworkID, &a.SubmissionID, &a.Reason, &a.Details, &a.CreatedAt)
		return a, err
	})
}

// OtherSubmissions returns the other submissions of the same artwork (the same bytes).
func (s *Store) OtherSubmissions(ctx context.Context, artworkID, submissionID uuid.UUID) (
	[]uuid.UUID, error) {
	rows, err := s.Pool.Query(ctx, `SELECT id FROM submissions WHERE artwork_id = $1
		AND id <> $2 ORDER BY created_at LIMIT 10`, artworkID, submissionID)
	if err != nil {
		return nil, fmt.Errorf("earlier submissions of artwork %s: %w", artworkID, err)
	}
	return pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
}
