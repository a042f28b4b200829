package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/store"
)

// Object metadata keys read from uploads (sent as x-amz-meta-<key> headers).
const (
	MetaClaimedArtist   = "claimed-artist"
	MetaTitle           = "title"
	MetaExternalRef     = "external-ref"
	MetaSubmitter       = "submitter"
	MetaProvenanceNotes = "provenance-notes"
)

// RunNotifications consumes S3 bucket notifications until ctx is cancelled. Each created
// object in the uploads bucket becomes a submission, exactly once per object version; objects
// elsewhere (including ingest's own content-addressed copies) are ignored.
func (s *Service) RunNotifications(ctx context.Context) error {
	cons, err := s.js.Consumer(ctx, s.cfg.Events.S3Stream, s.cfg.Events.S3Consumer)
	if err != nil {
		return fmt.Errorf("open consumer %s: %w", s.cfg.Events.S3Consumer, err)
	}
	for ctx.Err() == nil {
		batch, err := cons.Fetch(16, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn().Err(err).Msg("notification fetch failed; retrying")
				sleepCtx(ctx, time.Second)
			}
			continue
		}
		for msg := range batch.Messages() {
			workCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			s.handleNotification(workCtx, msg)
			cancel()
		}
	}
	return nil
}

// permanentError marks a notification that can never be turned into a submission.
type permanentError struct{ error }

func (s *Service) handleNotification(ctx context.Context, msg jetstream.Msg) {
	meta, _ := msg.Metadata()
	var n uint64 = 1
	if meta != nil {
		n = meta.NumDelivered
	}
	log := s.log.With().Uint64("num_delivered", n).Logger()
	if meta != nil {
		log = log.With().Uint64("stream_seq", meta.Sequence.Stream).Logger()
	}

	err := s.handleRecords(ctx, msg.Data())
	if err == nil {
		msg.Ack()
		return
	}

	var perm permanentError
	isPerm := errors.As(err, &perm)
	if !isPerm && int(n) < s.cfg.Events.MaxDeliver {
		log.Warn().Err(err).Msg("notification failed; will retry")
		msg.NakWithDelay(s.cfg.Events.Delay(n))
		return
	}
	f := store.Failure{Stage: "s3_notification", Kind: store.FailurePermanent,
		Reason: err.Error(), Subject: msg.Subject(), Deliveries: int(n), Payload: msg.Data()}
	if !isPerm {
		f.Kind = store.FailureDeadLetter
		f.Reason = fmt.Sprintf("gave up after %d deliveries: %s", n, err)
	}
	if meta != nil {
		f.Stream, f.StreamSeq = meta.Stream, meta.Sequence.Stream
	}
	if rerr := s.st.RecordFailure(ctx, f); rerr != nil {
		log.Error().Err(err).AnErr("record_error", rerr).Msg("could not record failure; will retry")
		msg.NakWithDelay(s.cfg.Events.Delay(n))
		return
	}
	log.Warn().Err(err).Str("outcome", f.Kind).Msg("notification rejected and recorded")
	msg.Term()
}

// handleRecords submits every object of a notification. A transient error stops it (the
// whole notification comes back; objects already submitted are then skipped); permanent
// problems with single objects are joined into one permanent error after all were tried.
func (s *Service) handleRecords(ctx context.Context, body []byte) error {
	recs, err := events.ParseS3Notification(body)
	if err != nil {
		return permanentError{err}
	}
	var rejected []error
	for _, rec := range recs {
		err := s.handleObject(ctx, rec)
		var perm permanentError
		switch {
		case errors.As(err, &perm):
			rejected = append(rejected, perm.error)
		case err != nil:
			return err
		}
	}
	if len(rejected) > 0 {
		return permanentError{errors.Join(rejected...)}
	}
	return nil
}

// handleObject submits one notified object. A permanent problem with the object itself (not
// an image, no artist) is recorded against the object version and is not an error: the rest
// of the notification goes on.
func (s *Service) handleObject(ctx context.Context, rec events.ObjectCreated) error {
	if rec.Bucket != s.cfg.UploadsBucket {
		return nil
	}
	obj := store.S3Object{Bucket: rec.Bucket, Key: rec.Key, Version: rec.Version()}
	log := s.log.With().Str("bucket", rec.Bucket).Str("key", rec.Key).
		Str("version", obj.Version).Logger()
	seen, err := s.st.ObjectSeen(ctx, obj)
	if err != nil || seen {
		if seen {
			log.Info().Str("outcome", "duplicate_notification").Msg("object already received")
		}
		return err
	}

	var (
		info blob.ObjectInfo
		key  string
	)
	for _, cand := range rec.KeyCandidates() {
		info, err = s.blobs.Head(ctx, rec.Bucket, cand)
		if err == nil {
			key = cand
			break
		}
		if !errors.Is(err, blob.ErrNotFound) {
			return err
		}
	}
	if key == "" {
		return s.reject(ctx, obj, "not_found", fmt.Errorf("object s3://%s/%s: %w",
			rec.Bucket, rec.Key, blob.ErrNotFound))
	}
	obj.Key = key

	claim := claimFromObject(key, info.Metadata)
	if err := claim.Validate(); err != nil {
		return s.reject(ctx, obj, "bad_claim", fmt.Errorf("object s3://%s/%s: %w (set "+
			"x-amz-meta-%s or upload under <artist>/)", rec.Bucket, key, err, MetaClaimedArtist))
	}
	data, err := s.blobs.Get(ctx, rec.Bucket, key, s.cfg.Limits.MaxBytes)
	if errors.Is(err, blob.ErrTooLarge) || errors.Is(err, blob.ErrNotFound) {
		return s.reject(ctx, obj, "unreadable", err)
	}
	if err != nil {
		return err
	}
	acc, err := s.Submit(ctx, data, claim, store.SourceS3, &obj)
	var inErr *InputError
	switch {
	case errors.Is(err, store.ErrDuplicateObject):
		log.Info().Str("outcome", "duplicate_notification").Msg("object already received")
		return nil
	case errors.As(err, &inErr):
		return s.reject(ctx, obj, "bad_image", fmt.Errorf("object s3://%s/%s: %w",
			rec.Bucket, key, err))
	case err != nil:
		return err
	}
	log.Info().Str("submission_id", acc.Submission.ID.String()).
		Str("claimed_artist", claim.ClaimedArtist).Bool("created", acc.Created).
		Str("outcome", "submitted").Msg("object submitted")
	return nil
}

// reject remembers the object version as not submitted and returns a permanent error, so that
// the notification is recorded as a failure with the reason.
func (s *Service) reject(ctx context.Context, obj store.S3Object, outcome string,
	cause error) error {
	if err := s.st.RecordRejectedObject(ctx, obj, outcome); err != nil {
		return err
	}
	return permanentError{cause}
}

// claimFromObject reads the claim from object metadata, taking the artist from the first
// segment of the key (<artist>/<anything>) when the metadata does not name one.
func claimFromObject(key string, meta map[string]string) Claim {
	c := Claim{
		ClaimedArtist: meta[MetaClaimedArtist], Title: meta[MetaTitle],
		ExternalRef: meta[MetaExternalRef], Submitter: meta[MetaSubmitter],
		ProvenanceNotes: meta[MetaProvenanceNotes],
	}
	if c.ClaimedArtist == "" {
		if prefix, _, ok := strings.Cut(key, "/"); ok {
			c.ClaimedArtist = prefix
		}
	}
	return c
}
