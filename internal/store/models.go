package store

import (
	"context"
	"encoding/json"
	"fmt"
)

// Model is a model version known to the system.
type Model struct {
	Artist    string
	Version   string
	SHA256    string
	Arch      string
	Threshold float64
	Location  string
	Metadata  json.RawMessage
}

// RecordModel registers a model version as active, or checks that the registered one has the
// same hash: a version is immutable, so another hash returns ErrModelConflict.
func (s *Store) RecordModel(ctx context.Context, m Model) error {
	var sha string
	err := s.Pool.QueryRow(ctx, `WITH ins AS (
			INSERT INTO models (artist, version, sha256, arch, threshold, location, metadata)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (artist, version) DO NOTHING RETURNING sha256)
		SELECT sha256 FROM ins
		UNION ALL SELECT sha256 FROM models WHERE artist = $1 AND version = $2
		LIMIT 1`,
		m.Artist, m.Version, m.SHA256, m.Arch, m.Threshold, m.Location, m.Metadata).Scan(&sha)
	if err != nil {
		return fmt.Errorf("record model %s@%s: %w", m.Artist, m.Version, err)
	}
	if sha != m.SHA256 {
		return fmt.Errorf("model %s@%s: registered sha256 %s, file has %s: %w",
			m.Artist, m.Version, sha, m.SHA256, ErrModelConflict)
	}
	return nil
}
