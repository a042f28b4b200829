package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Model states.
const (
	ModelStaged  = "staged"
	ModelActive  = "active"
	ModelRetired = "retired"
)

// Model is a registered model version.
type Model struct {
	Artist    string          `json:"artist"`
	Version   string          `json:"version"`
	SHA256    string          `json:"sha256"`
	Arch      string          `json:"arch"`
	Threshold float64         `json:"threshold"`
	Location  string          `json:"location"` // where the files are, e.g. s3://models/monet/1.0.0/
	Metadata  json.RawMessage `json:"metadata"` // model.json as registered
	Metrics   json.RawMessage `json:"metrics,omitempty"`
	State     string          `json:"state"`
	CreatedAt time.Time       `json:"created_at"`
	// ActivatedAt is when the version last became active; nil if it never was.
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
}

const modelCols = `artist, version, sha256, arch, threshold, location, metadata, metrics, state,
	created_at, activated_at`

func scanModel(row pgx.Row) (Model, error) {
	var m Model
	err := row.Scan(&m.Artist, &m.Version, &m.SHA256, &m.Arch, &m.Threshold, &m.Location,
		&m.Metadata, &m.Metrics, &m.State, &m.CreatedAt, &m.ActivatedAt)
	return m, err
}

// RegisterModel records a model version as staged. Registering the same version again with
// the same hash is a no-op that returns the stored row; another hash returns ErrModelConflict,
// because a version is immutable.
func (s *Store) RegisterModel(ctx context.Context, m Model) (Model, error) {
	if len(m.Metrics) == 0 {
		m.Metrics = json.RawMessage(`{}`)
	}
	_, err := s.Pool.Exec(ctx, `INSERT INTO models
			(artist, version, sha256, arch, threshold, location, metadata, metrics)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (artist, version) DO NOTHING`,
		m.Artist, m.Version, m.SHA256, m.Arch, m.Threshold, m.Location, m.Metadata, m.Metrics)
	if err != nil {
		return Model{}, fmt.Errorf("register model %s@%s: %w", m.Artist, m.Version, err)
	}
	got, err := s.GetModel(ctx, m.Artist, m.Version)
	if err != nil {
		return Model{}, err
	}
	if got.SHA256 != m.SHA256 {
		return got, fmt.Errorf("model %s@%s: registered sha256 %s, file has %s: %w",
			m.Artist, m.Version, got.SHA256, m.SHA256, ErrModelConflict)
	}
	return got, nil
}

// GetModel returns one version, or ErrNotFound.
func (s *Store) GetModel(ctx context.Context, artist, version string) (Model, error) {
	m, err := scanModel(s.Pool.QueryRow(ctx, `SELECT `+modelCols+` FROM models
		WHERE artist = $1 AND version = $2`, artist, version))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("model %s@%s: %w", artist, version, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("read model %s@%s: %w", artist, version, err)
	}
	return m, nil
}

// ListModels returns the versions of one artist, or of all artists when artist is empty,
// newest first.
func (s *Store) ListModels(ctx context.Context, artist string) ([]Model, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+modelCols+` FROM models
		WHERE $1 = '' OR artist = $1 ORDER BY artist, created_at DESC, version DESC`, artist)
	if err != nil {
		return nil, fmt.Errorf("list models: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Model, error) {
		return scanModel(r)
	})
}

// ActiveModels returns the active version of every artist.
func (s *Store) ActiveModels(ctx context.Context) ([]Model, error) {
	rows, err := s.Pool.Query(ctx, `SELECT `+modelCols+` FROM models WHERE state = 'active'
		ORDER BY artist`)
	if err != nil {
		return nil, fmt.Errorf("list active models: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Model, error) {
		return scanModel(r)
	})
}

// ActivateModel makes version the artist's active model and retires the one it replaces,
// which it returns (nil when there was none).
func (s *Store) ActivateModel(ctx context.Context, artist, version string) (*Model, error) {
	var prev *Model
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Lock the artist's rows so that concurrent activations serialise.
		rows, err := tx.Query(ctx, `SELECT `+modelCols+` FROM models WHERE artist = $1
			FOR UPDATE`, artist)
		if err != nil {
			return fmt.Errorf("lock models of %s: %w", artist, err)
		}
		all, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Model, error) {
			return scanModel(r)
		})
		if err != nil {
			return fmt.Errorf("read models of %s: %w", artist, err)
		}
		found := false
		for i := range all {
			switch {
			case all[i].Version == version:
				found = true
			case all[i].State == ModelActive:
				prev = &all[i]
			}
		}
		if !found {
			return fmt.Errorf("model %s@%s: %w", artist, version, ErrNotFound)
		}
		if prev != nil {
			if _, err := tx.Exec(ctx, `UPDATE models SET state = 'retired', retired_at = now()
				WHERE artist = $1 AND version = $2`, artist, prev.Version); err != nil {
				return fmt.Errorf("retire %s@%s: %w", artist, prev.Version, err)
			}
		}
		_, err = tx.Exec(ctx, `UPDATE models SET state = 'active', activated_at = now(),
			retired_at = NULL WHERE artist = $1 AND version = $2`, artist, version)
		if err != nil {
			return fmt.Errorf("activate %s@%s: %w", artist, version, err)
		}
		return nil
	})
	return prev, err
}

// PreviousModel returns the version that was active before the current one: the retired
// version activated most recently. ErrNotFound when there is none.
func (s *Store) PreviousModel(ctx context.Context, artist string) (Model, error) {
	m, err := scanModel(s.Pool.QueryRow(ctx, `SELECT `+modelCols+` FROM models
		WHERE artist = $1 AND state = 'retired' AND activated_at IS NOT NULL
		ORDER BY activated_at DESC LIMIT 1`, artist))
	if errors.Is(err, pgx.ErrNoRows) {
		return m, fmt.Errorf("no earlier active version of %s: %w", artist, ErrNotFound)
	}
	if err != nil {
		return m, fmt.Errorf("find previous model of %s: %w", artist, err)
	}
	return m, nil
}

// AddEvaluation stores an evaluation report of a model version.
func (s *Store) AddEvaluation(ctx context.Context, artist, version, dataset string,
	report json.RawMessage) error {
	_, err := s.Pool.Exec(ctx, `INSERT INTO model_evaluations (artist, version, dataset, report)
		VALUES ($1, $2, $3, $4)`, artist, version, dataset, report)
	if err != nil {
		return fmt.Errorf("store evaluation of %s@%s: %w", artist, version, err)
	}
	return nil
}
