package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
)

// Models gives the model that serves an artist. inference.DirRegistry implements it.
type Models interface {
	Get(artist string) (*inference.Model, error)
}

// Worker consumes classification requests. Create it with New; Run blocks until its context
// is cancelled.
type Worker struct {
	cfg    Config
	st     *store.Store
	blobs  *blob.Client
	js     jetstream.JetStream
	models Models
	log    zerolog.Logger
}

// New checks cfg and returns a worker.
func New(cfg Config, st *store.Store, blobs *blob.Client, js jetstream.JetStream, models Models,
	log zerolog.Logger) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, st: st, blobs: blobs, js: js, models: models, log: log}, nil
}

// Run fetches and processes batches until ctx is cancelled. On cancellation it stops fetching
// and lets the batch in progress finish (its writes and acks use a context of their own),
// then returns nil.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.Consumer(ctx, w.cfg.Events.Stream, w.cfg.Events.Consumer)
	if err != nil {
		return fmt.Errorf("open consumer %s on %s: %w", w.cfg.Events.Consumer,
			w.cfg.Events.Stream, err)
	}
	w.log.Debug().Str("consumer", w.cfg.Events.Consumer).Msg("worker loop started")
	defer w.log.Debug().Msg("worker loop stopped")
	for ctx.Err() == nil {
		batch, err := cons.Fetch(w.cfg.BatchSize, jetstream.FetchMaxWait(w.cfg.FetchWait))
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			w.log.Warn().Err(err).Msg("fetch failed; retrying")
			sleep(ctx, time.Second)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, context.Canceled) &&
			!errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil {
			w.log.Warn().Err(err).Int("received", len(msgs)).Msg("fetch ended with an error")
		}
		if len(msgs) == 0 {
			continue
		}
		// In-flight work finishes even when ctx is cancelled now; the grace period bounds it.
		workCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.ShutdownGrace)
		w.ProcessBatch(workCtx, msgs)
		cancel()
	}
	return nil
}

// RecordDeadLetter stores a message that JetStream gave up on without any worker settling it
// (see events.WatchDeadLetters) as a dead-letter failure of its submission.
func (w *Worker) RecordDeadLetter(ctx context.Context, dl events.DeadLetter) error {
	f := store.Failure{Stage: "classify", Kind: store.FailureDeadLetter, Stream: dl.Stream,
		StreamSeq: dl.StreamSeq, Subject: dl.Subject, Deliveries: dl.Deliveries,
		Payload: dl.Data, Reason: fmt.Sprintf("no worker settled the message in %d deliveries "+
			"(workers crashed or hung past the ack wait)", dl.Deliveries)}
	if req, err := events.DecodeClassifyRequest(dl.Data); err == nil {
		f.SubmissionID = &req.SubmissionID
	}
	if err := w.st.RecordFailure(ctx, f); err != nil {
		return err
	}
	w.log.Warn().Uint64("stream_seq", dl.StreamSeq).Int("num_delivered", dl.Deliveries).
		Str("outcome", f.Kind).Msg("abandoned message dead-lettered")
	return nil
}

// item is one message on its way through a batch.
type item struct {
	msg      jetstream.Msg
	meta     *jetstream.MsgMetadata
	req      events.ClassifyRequest
	received time.Time
	model    *inference.Model
	input    []float32
	err      error
	perm     bool // err is permanent: record and terminate
	settled  bool // acked, nacked or terminated
}

func (it *item) fail(err error, permanent bool) {
	if it.err == nil {
		it.err, it.perm = err, permanent
	}
}

// ProcessBatch classifies msgs and settles every one of them: ack after the result commits,
// terminate after a permanent failure is recorded, or redeliver later after a transient one
// (dead-lettering it on its last delivery).
func (w *Worker) ProcessBatch(ctx context.Context, msgs []jetstream.Msg) {
	start := time.Now()
	items := make([]*item, 0, len(msgs))
	for _, m := range msgs {
		it := &item{msg: m, received: start}
		it.meta, _ = m.Metadata()
		if req, err := events.DecodeClassifyRequest(m.Data()); err != nil {
			it.fail(err, true)
		} else {
			it.req = req
		}
		items = append(items, it)
	}
	stop := w.keepAlive(items)
	defer stop()

	pending := w.skipClassified(ctx, items)
	w.prepare(ctx, pending)
	results := w.infer(pending)

	if len(results) > 0 {
		if _, err := w.st.SaveResults(ctx, results); err != nil {
			for _, it := range pending {
				it.fail(fmt.Errorf("save results: %w", err), false)
			}
		}
	}
	stop()
	var ok, failed int
	for _, it := range items {
		if it.settled {
			continue
		}
		if it.err != nil {
			failed++
			w.settleFailure(ctx, it)
			continue
		}
		ok++
		w.ack(it)
	}
	level := zerolog.InfoLevel
	if failed > 0 {
		level = zerolog.WarnLevel
	}
	w.log.WithLevel(level).Int("batch_size", len(items)).Int("classified", ok).
		Int("failed", failed).Float64("duration_ms", ms(time.Since(start))).Msg("batch done")
}

// skipClassified acks messages whose submission already has a result (a redelivery) and
// returns the rest that still need work.
func (w *Worker) skipClassified(ctx context.Context, items []*item) []*item {
	var ids []uuid.UUID
	for _, it := range items {
		if it.err == nil {
			ids = append(ids, it.req.SubmissionID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	done, err := w.st.ClassifiedAmong(ctx, ids)
	var out []*item
	for _, it := range items {
		switch {
		case it.err != nil:
		case err != nil:
			it.fail(err, false)
		case done[it.req.SubmissionID]:
			w.log.Info().Str("submission_id", it.req.SubmissionID.String()).
				Uint64("num_delivered", it.numDelivered()).
				Msg("already classified; acknowledging redelivery")
			w.ack(it)
		default:
			out = append(out, it)
		}
	}
	return out
}

// prepare finds each item's model and fetches, verifies and preprocesses its image, with
// bounded concurrency.
func (w *Worker) prepare(ctx context.Context, items []*item) {
	var g errgroup.Group
	g.SetLimit(w.cfg.Concurrency)
	for _, it := range items {
		m, err := w.models.Get(it.req.ClaimedArtist)
		if err != nil {
			permanent := errors.Is(err, inference.ErrUnknownArtist) ||
				errors.Is(err, inference.ErrBadModel)
			it.fail(fmt.Errorf("model for %q: %w", it.req.ClaimedArtist, err), permanent)
			continue
		}
		it.model = m
		g.Go(func() error {
			it.input, it.err, it.perm = w.load(ctx, it.req, m)
			return nil
		})
	}
	g.Wait()
}

// load fetches one image and turns it into the model's input.
func (w *Worker) load(ctx context.Context, req events.ClassifyRequest, m *inference.Model) (
	[]float32, error, bool) {
	data, err := w.blobs.Get(ctx, req.Bucket, req.Key, w.cfg.Limits.MaxBytes)
	if err != nil {
		// A missing object may appear later (replication lag); retries then dead-letter it.
		return nil, fmt.Errorf("fetch image: %w", err), errors.Is(err, blob.ErrTooLarge)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != req.SHA256 {
		return nil, fmt.Errorf("image s3://%s/%s has sha256 %s, request says %s",
			req.Bucket, req.Key, got, req.SHA256), true
	}
	p := m.Meta.Preprocessing
	spec := imaging.Spec{Height: p.Resize[0], Width: p.Resize[1], Mean: p.Mean, Std: p.Std}
	input := make([]float32, m.InputLen())
	if _, err := imaging.Preprocess(data, spec, w.cfg.Limits,
		imaging.Options{FastScaledDecode: w.cfg.FastDecode}, input); err != nil {
		return nil, fmt.Errorf("preprocess image %s: %w", req.SHA256, err), true
	}
	return input, nil, false
}

// infer runs one batch per model and returns the results of the items that succeeded.
func (w *Worker) infer(items []*item) []store.Result {
	groups := map[*inference.Model][]*item{}
	for _, it := range items {
		if it.err == nil {
			groups[it.model] = append(groups[it.model], it)
		}
	}
	var results []store.Result
	for m, group := range groups {
		input := make([]float32, 0, len(group)*m.InputLen())
		for _, it := range group {
			input = append(input, it.input...)
		}
		t0 := time.Now()
		logits, err := m.Run(input, len(group))
		compute := time.Since(t0)
		if err != nil {
			for _, it := range group {
				it.fail(err, false)
			}
			continue
		}
		for i, it := range group {
			score := inference.Sigmoid(logits[i])
			decision := store.DecisionNotArtist
			if score > m.Meta.Threshold {
				decision = store.DecisionArtist
			}
			results = append(results, store.Result{
				SubmissionID: it.req.SubmissionID, ArtworkSHA256: it.req.SHA256,
				ModelArtist: m.Meta.Artist, ModelVersion: m.Meta.Version,
				ModelSHA256: m.Meta.SHA256, Logit: logits[i], Score: score,
				Threshold: m.Meta.Threshold, Decision: decision,
				LatencyMS: ms(time.Since(it.received)), BatchSize: len(group),
				Device: m.Device.String(), Worker: w.cfg.WorkerID,
			})
			w.log.Debug().Str("submission_id", it.req.SubmissionID.String()).
				Str("model", m.Meta.Artist).Str("model_version", m.Meta.Version).
				Float64("score", score).Str("decision", decision).
				Float64("compute_ms", ms(compute)).Msg("scored")
		}
	}
	return results
}

// settleFailure records a permanent failure and terminates the message, or redelivers a
// transient one later; on its last allowed delivery a transient failure is dead-lettered.
func (w *Worker) settleFailure(ctx context.Context, it *item) {
	n := it.numDelivered()
	last := int(n) >= w.cfg.Events.MaxDeliver
	log := w.log.With().Str("submission_id", it.req.SubmissionID.String()).
		Uint64("num_delivered", n).Err(it.err).Logger()
	if !it.perm && !last {
		delay := w.cfg.Events.Delay(n)
		log.Warn().Dur("redeliver_in", delay).Msg("transient failure; will retry")
		if err := it.msg.NakWithDelay(delay); err != nil {
			log.Error().AnErr("nak_error", err).Msg("nak failed; the ack wait will redeliver")
		}
		return
	}
	f := store.Failure{Stage: "classify", Kind: store.FailurePermanent, Reason: it.err.Error(),
		Subject: it.msg.Subject(), Deliveries: int(n), Payload: it.msg.Data()}
	if !it.perm {
		f.Kind = store.FailureDeadLetter
		f.Reason = fmt.Sprintf("gave up after %d deliveries: %s", n, it.err)
	}
	if it.meta != nil {
		f.Stream, f.StreamSeq = it.meta.Stream, it.meta.Sequence.Stream
	}
	if it.req.SubmissionID != uuid.Nil {
		id := it.req.SubmissionID
		f.SubmissionID = &id
	}
	if err := w.st.RecordFailure(ctx, f); err != nil {
		// Without the record the message must not disappear: let it come back.
		log.Error().AnErr("record_error", err).Msg("could not record failure; will retry")
		it.msg.NakWithDelay(w.cfg.Events.Delay(n))
		return
	}
	log.Warn().Str("outcome", f.Kind).Msg("failure recorded; message terminated")
	if err := it.msg.Term(); err != nil {
		log.Error().AnErr("term_error", err).Msg("terminate failed")
	}
}

func (w *Worker) ack(it *item) {
	it.settled = true
	if err := it.msg.Ack(); err != nil {
		w.log.Error().Err(err).Str("submission_id", it.req.SubmissionID.String()).
			Msg("ack failed; the redelivery will find the result and ack again")
	}
}

// keepAlive tells JetStream the batch is still being worked on, every third of the ack wait,
// so that a long batch is not redelivered to another worker. The returned stop is idempotent.
func (w *Worker) keepAlive(items []*item) func() {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(w.cfg.Events.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				for _, it := range items {
					it.msg.InProgress()
				}
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

func (it *item) numDelivered() uint64 {
	if it.meta == nil {
		return 1
	}
	return it.meta.NumDelivered
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
