// Package ingest accepts artworks: through its HTTP API, through presigned uploads and
// through S3 bucket notifications. Every accepted artwork is stored in S3 under the SHA-256
// of its bytes, recorded in Postgres with its submission, and announced to the classifier
// workers through a transactional outbox relayed to JetStream.
package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/alerts"
	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/store"
)

// Config tunes ingest.
type Config struct {
	Events events.Config
	// ArtworksBucket holds originals under content-addressed keys. Default "artworks".
	ArtworksBucket string
	// UploadsBucket receives presigned and partner uploads; its notifications are consumed.
	// Default "uploads".
	UploadsBucket string
	// Limits bound accepted images. Default imaging.DefaultLimits().
	Limits imaging.Limits
	// PresignTTL is how long a presigned upload URL stays valid. Default 15m.
	PresignTTL time.Duration
	// OutboxPoll is how often the relay looks for unpublished events when no notification
	// arrives. Default 2s.
	OutboxPoll time.Duration
	// PublicURL prefixes status URLs in responses. Default "" (relative URLs).
	PublicURL string
}

func (c *Config) setDefaults() {
	if c.ArtworksBucket == "" {
		c.ArtworksBucket = "artworks"
	}
	if c.UploadsBucket == "" {
		c.UploadsBucket = "uploads"
	}
	if c.Limits == (imaging.Limits{}) {
		c.Limits = imaging.DefaultLimits()
	}
	if c.PresignTTL == 0 {
		c.PresignTTL = 15 * time.Minute
	}
	if c.OutboxPoll == 0 {
		c.OutboxPoll = 2 * time.Second
	}
}

// Service is ingest's core, shared by the HTTP API, the notification consumer and the relay.
type Service struct {
	cfg   Config
	st    *store.Store
	blobs *blob.Client
	js    jetstream.JetStream
	log   zerolog.Logger
}

// New returns a service; it makes no request.
func New(cfg Config, st *store.Store, blobs *blob.Client, js jetstream.JetStream,
	log zerolog.Logger) (*Service, error) {
	cfg.setDefaults()
	if err := cfg.Events.Validate(); err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, st: st, blobs: blobs, js: js, log: log}, nil
}

// Prepare creates the buckets, streams and consumers ingest needs. It is idempotent.
func (s *Service) Prepare(ctx context.Context) error {
	for _, b := range []string{s.cfg.ArtworksBucket, s.cfg.UploadsBucket} {
		if err := s.blobs.EnsureBucket(ctx, b); err != nil {
			return err
		}
	}
	return events.Setup(ctx, s.js, s.cfg.Events)
}

// Claim is what a submitter says about an artwork.
type Claim struct {
	ClaimedArtist   string `json:"claimed_artist"`
	Title           string `json:"title"`
	ExternalRef     string `json:"external_ref"`
	Submitter       string `json:"submitter"`
	ProvenanceNotes string `json:"provenance_notes"`
	// Attribute asks for the image to be scored against every active artist model.
	Attribute bool `json:"attribute"`
}

// ReservedArtists are registry names that are not artists and cannot be claimed.
var ReservedArtists = map[string]bool{"ai-detector": true}

// Field length limits keep one submission from bloating the tables.
const (
	maxTextField  = 512
	maxNotesField = 16 << 10
)

// Validate normalises the artist slug and checks every field, reporting all problems.
func (c *Claim) Validate() error {
	c.ClaimedArtist = strings.ToLower(strings.TrimSpace(c.ClaimedArtist))
	var errs []string
	switch {
	case !events.ArtistRE.MatchString(c.ClaimedArtist):
		errs = append(errs, fmt.Sprintf("claimed_artist %q: want a slug such as \"monet\" "+
			"(lowercase letters, digits, _ or -)", c.ClaimedArtist))
	case ReservedArtists[c.ClaimedArtist]:
		errs = append(errs, fmt.Sprintf("claimed_artist %q: reserved, not an artist",
			c.ClaimedArtist))
	}
	for name, v := range map[string]string{"title": c.Title, "external_ref": c.ExternalRef,
		"submitter": c.Submitter} {
		if len(v) > maxTextField {
			errs = append(errs, fmt.Sprintf("%s: %d bytes, limit %d", name, len(v), maxTextField))
		}
	}
	if len(c.ProvenanceNotes) > maxNotesField {
		errs = append(errs, fmt.Sprintf("provenance_notes: %d bytes, limit %d",
			len(c.ProvenanceNotes), maxNotesField))
	}
	if len(errs) > 0 {
		return &InputError{Msg: strings.Join(errs, "; ")}
	}
	return nil
}

// InputError is a problem with what the caller sent; the message is safe to show them.
type InputError struct {
	Msg    string
	Status int // HTTP status; 0 means 400
	Err    error
}

func (e *InputError) Error() string { return e.Msg }
func (e *InputError) Unwrap() error { return e.Err }

// Accepted is the outcome of a submission.
type Accepted struct {
	Artwork    store.Artwork
	Submission store.Submission
	// Created is false when the same bytes were already submitted for the same artist.
	Created bool
}

// Submit checks the image, stores it under its content address and records the submission
// and its classification event together. obj is set for bucket notifications.
func (s *Service) Submit(ctx context.Context, data []byte, claim Claim, source string,
	obj *store.S3Object) (Accepted, error) {
	if err := claim.Validate(); err != nil {
		return Accepted{}, err
	}
	info, err := imaging.Probe(data, s.cfg.Limits)
	if err != nil {
		status := 422
		switch {
		case errors.Is(err, imaging.ErrUnsupportedFormat):
			status = 415
		case errors.Is(err, imaging.ErrTooLarge):
			status = 413
		}
		return Accepted{}, &InputError{Msg: err.Error(), Status: status, Err: err}
	}
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	key := blob.ContentKey(sha)
	// The key is derived from the bytes, so writing it again is harmless.
	if err := s.blobs.Put(ctx, s.cfg.ArtworksBucket, key, data, "image/"+string(info.Format),
		map[string]string{"sha256": sha}); err != nil {
		return Accepted{}, fmt.Errorf("store artwork %s: %w", sha, err)
	}
	art, sub, created, err := s.st.CreateSubmission(ctx, store.NewSubmission{
		Artwork: store.Artwork{SHA256: sha, SizeBytes: int64(len(data)),
			Format: string(info.Format), Width: info.Width, Height: info.Height,
			Bucket: s.cfg.ArtworksBucket, ObjectKey: key},
		Submission: store.Submission{ClaimedArtist: claim.ClaimedArtist, Title: claim.Title,
			ExternalRef: claim.ExternalRef, Submitter: claim.Submitter,
			ProvenanceNotes: claim.ProvenanceNotes, Source: source, Attribute: claim.Attribute},
		Object:  obj,
		Message: s.classifyMessage(source),
	})
	if err != nil {
		return Accepted{}, err
	}
	if art.Existed {
		s.alertKnownDuplicate(ctx, art, sub, claim, source)
	}
	return Accepted{Artwork: art, Submission: sub, Created: created}, nil
}

// alertKnownDuplicate raises the known-duplicate alert for bytes that were submitted before
// (once per artwork). The submission stands whatever happens here; a failure to alert is
// logged, and the worker's verdict still names the duplicate for a new claim.
func (s *Service) alertKnownDuplicate(ctx context.Context, art store.Artwork,
	sub store.Submission, claim Claim, source string) {
	details, _ := json.Marshal(map[string]any{"kind": "identical",
		"text": "the same bytes were submitted before", "submission_id": sub.ID,
		"claimed_artist": claim.ClaimedArtist, "submitter": claim.Submitter,
		"external_ref": claim.ExternalRef, "source": source, "first_seen": art.CreatedAt})
	id := sub.ID
	ok, err := s.st.RaiseAlert(ctx, store.Alert{ArtworkID: art.ID, SubmissionID: &id,
		Reason: "known_duplicate", Details: details}, alerts.Message(s.cfg.Events), true)
	if err != nil {
		s.log.Error().Err(err).Str("artwork_id", art.ID.String()).
			Msg("could not raise the known-duplicate alert")
		return
	}
	if ok {
		s.log.Warn().Str("artwork_id", art.ID.String()).Str("reason", "known_duplicate").
			Msg("alert raised")
	}
}

func (s *Service) classifyMessage(source string) func(store.Artwork, store.Submission) (
	store.OutboxMessage, error) {
	return func(a store.Artwork, sub store.Submission) (store.OutboxMessage, error) {
		req := events.ClassifyRequest{
			Schema: events.ClassifySchema, SubmissionID: sub.ID, ArtworkID: a.ID,
			SHA256: a.SHA256, Bucket: a.Bucket, Key: a.ObjectKey,
			ClaimedArtist: sub.ClaimedArtist, Source: source, EnqueuedAt: time.Now().UTC(),
			Attribute: sub.Attribute,
		}
		payload, err := json.Marshal(req)
		if err != nil {
			return store.OutboxMessage{}, fmt.Errorf("encode classify request: %w", err)
		}
		return store.OutboxMessage{Subject: s.cfg.Events.ClassifySubject(sub.ClaimedArtist),
			MsgID: req.MsgID(), Payload: payload}, nil
	}
}
