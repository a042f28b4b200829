package events

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/google/uuid"
)

// ClassifySchema names version 1 of the classification request. A consumer refuses (as a
// permanent failure) a schema it does not know, rather than guessing.
const ClassifySchema = "artauth.classify.v1"

// ClassifyRequest asks the workers to classify one submission's image with its claimed
// artist's model.
type ClassifyRequest struct {
	Schema        string    `json:"schema"`
	SubmissionID  uuid.UUID `json:"submission_id"`
	ArtworkID     uuid.UUID `json:"artwork_id"`
	SHA256        string    `json:"sha256"`
	Bucket        string    `json:"bucket"`
	Key           string    `json:"key"`
	ClaimedArtist string    `json:"claimed_artist"`
	Source        string    `json:"source"`
	EnqueuedAt    time.Time `json:"enqueued_at"`
	// Attribute asks for the image to be scored against every active artist model.
	Attribute bool `json:"attribute,omitempty"`
}

// AlertSchema names version 1 of the alert message.
const AlertSchema = "artauth.alert.v1"

// AlertMessage announces an alert, on <prefix>.alerts.<reason>.
type AlertMessage struct {
	Schema       string          `json:"schema"`
	AlertID      uuid.UUID       `json:"alert_id"`
	ArtworkID    uuid.UUID       `json:"artwork_id"`
	SubmissionID *uuid.UUID      `json:"submission_id,omitempty"`
	Reason       string          `json:"reason"`
	Details      json.RawMessage `json:"details"`
	CreatedAt    time.Time       `json:"created_at"`
}

var (
	sha256RE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	// ArtistRE is the form of an artist slug: lowercase letters, digits, _ and -.
	ArtistRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)
)

// MsgID is the JetStream message ID of a submission's request: publishing it again within the
// duplicate window is dropped by the server.
func (r ClassifyRequest) MsgID() string { return "classify:" + r.SubmissionID.String() }

// Validate checks every field a worker relies on.
func (r ClassifyRequest) Validate() error {
	switch {
	case r.Schema != ClassifySchema:
		return fmt.Errorf("schema %q: want %q", r.Schema, ClassifySchema)
	case r.SubmissionID == uuid.Nil:
		return fmt.Errorf("submission_id missing")
	case !sha256RE.MatchString(r.SHA256):
		return fmt.Errorf("sha256 %q: want 64 lowercase hex digits", r.SHA256)
	case r.Bucket == "" || r.Key == "":
		return fmt.Errorf("bucket %q key %q: both required", r.Bucket, r.Key)
	case !ArtistRE.MatchString(r.ClaimedArtist):
		return fmt.Errorf("claimed_artist %q: want a lowercase slug", r.ClaimedArtist)
	}
	return nil
}

// DecodeClassifyRequest parses and validates a request. Its errors are permanent: the same
// bytes will never parse.
func DecodeClassifyRequest(data []byte) (ClassifyRequest, error) {
	var r ClassifyRequest
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("decode classify request: %w", err)
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("invalid classify request: %w", err)
	}
	return r, nil
}
