package worker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/alerts"
	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/metrics"
	"github.com/artauth/artauth/internal/provenance"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/verdict"
)

// Worker consumes classification requests. Create it with New; Run blocks until its context
// is cancelled.
type Worker struct {
	cfg    Config
	st     *store.Store
	blobs  *blob.Client
	js     jetstream.JetStream
	reg    Registry
	caches []*inference.Cache // one per device
	log    zerolog.Logger

	active activeSet
	slots  chan struct{} // one per message in flight
	prep   chan struct{} // one per download or decode in progress

	mu       sync.Mutex
	inflight map[*item]struct{}
}

// New checks cfg and returns a worker serving the registry's active models on the devices of
// caches (one cache per device; batches go to whichever device is free).
func New(cfg Config, st *store.Store, blobs *blob.Client, js jetstream.JetStream, reg Registry,
	caches []*inference.Cache, log zerolog.Logger) (*Worker, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(caches) == 0 {
		return nil, fmt.Errorf("worker: no device")
	}
	return &Worker{cfg: cfg, st: st, blobs: blobs, js: js, reg: reg, caches: caches, log: log,
		active: activeSet{byArtist: map[string]*served{}},
		slots:  make(chan struct{}, cfg.MaxInFlight),
		prep:   make(chan struct{}, cfg.Concurrency), inflight: map[*item]struct{}{}}, nil
}

// item is one message on its way through the worker.
type item struct {
	msg         jetstream.Msg
	meta        *jetstream.MsgMetadata
	req         events.ClassifyRequest
	received    time.Time
	ready       time.Time // preprocessed, waiting for its batch
	model       *served
	input       []float32
	detInput    []float32 // the detector's own tensor, when its input differs from the model's
	detPrep     inference.Preprocessing
	result      *store.Result
	signals     *provenance.Signals
	dups        []store.Duplicate
	aiScore     *float64
	aiThreshold float64
	attrib      []store.Attribution
	verdict     *verdict.Result
	policy      verdict.Policy
	err         error
	reason      string // failure class for metrics
	perm        bool   // err is permanent: record and terminate
}

func (it *item) fail(reason string, err error, permanent bool) {
	if it.err == nil {
		it.err, it.reason, it.perm = err, reason, permanent
	}
}

func (it *item) numDelivered() uint64 {
	if it.meta == nil {
		return 1
	}
	return it.meta.NumDelivered
}

// Run consumes until ctx is cancelled, then stops fetching, lets the messages in hand finish
// (bounded by the shutdown grace; writes and acks use a context of their own) and returns.
func (w *Worker) Run(ctx context.Context) error {
	cons, err := w.js.Consumer(ctx, w.cfg.Events.Stream, w.cfg.Events.Consumer)
	if err != nil {
		return fmt.Errorf("open consumer %s on %s: %w", w.cfg.Events.Consumer,
			w.cfg.Events.Stream, err)
	}
	if err := w.refresh(ctx, false); err != nil {
		return err
	}
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go w.watchModels(watchCtx)

	// Work started before the stop signal finishes on this context.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	b := newBatcher()
	done := make(chan *batch)
	var execs, preps sync.WaitGroup
	go b.run()
	for _, c := range w.caches {
		execs.Add(1)
		go func() { defer execs.Done(); w.execute(workCtx, c, b.out, done) }()
	}
	go func() { execs.Wait(); close(done) }()
	committed := make(chan struct{})
	go func() { defer close(committed); w.commit(workCtx, done) }()
	stopKeepAlive := w.keepAlive()

	w.log.Debug().Str("consumer", w.cfg.Events.Consumer).Msg("worker loop started")
	w.fetchLoop(ctx, workCtx, cons, b, &preps)

	// Stop: no more fetches; preprocessing finishes, the batcher flushes, executors and the
	// committer drain. Past the grace period, work is cancelled and unsettled messages are
	// redelivered by JetStream after the ack wait.
	grace := time.AfterFunc(w.cfg.ShutdownGrace, cancelWork)
	defer grace.Stop()
	preps.Wait()
	close(b.add)
	<-committed
	stopKeepAlive()
	w.log.Debug().Msg("worker loop stopped")
	return nil
}

func (w *Worker) fetchLoop(ctx, workCtx context.Context, cons jetstream.Consumer, b *batcher,
	preps *sync.WaitGroup) {
	for ctx.Err() == nil {
		// Take at least one free slot (waiting if all are busy), then as many as are free.
		select {
		case w.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
		for n < w.cfg.MaxBatch {
			select {
			case w.slots <- struct{}{}:
				n++
				continue
			default:
			}
			break
		}
		msgs, err := fetch(cons, n, w.cfg.FetchWait)
		for i := len(msgs); i < n; i++ {
			<-w.slots
		}
		if err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("fetch failed; retrying")
			sleep(ctx, time.Second)
		}
		if len(msgs) > 0 {
			w.admit(workCtx, msgs, b, preps)
		}
	}
}

func fetch(cons jetstream.Consumer, n int, wait time.Duration) ([]jetstream.Msg, error) {
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(wait))
	if err != nil {
		return nil, err
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	err = batch.Error()
	if errors.Is(err, jetstream.ErrNoMessages) {
		err = nil
	}
	return msgs, err
}

// admit decodes a fetched group, settles redeliveries of classified submissions, and starts
// preprocessing the rest.
func (w *Worker) admit(ctx context.Context, msgs []jetstream.Msg, b *batcher,
	preps *sync.WaitGroup) {
	now := time.Now()
	var items []*item
	var ids []uuid.UUID
	for _, m := range msgs {
		it := &item{msg: m, received: now}
		it.meta, _ = m.Metadata()
		w.track(it)
		req, err := events.DecodeClassifyRequest(m.Data())
		if err != nil {
			it.fail("bad_message", err, true)
			w.finish(ctx, it)
			continue
		}
		it.req = req
		items = append(items, it)
		ids = append(ids, req.SubmissionID)
	}
	if len(items) == 0 {
		return
	}
	done, err := w.st.ClassifiedAmong(ctx, ids)
	for _, it := range items {
		switch {
		case err != nil:
			it.fail("db", err, false)
			w.finish(ctx, it)
		case done[it.req.SubmissionID]:
			w.finish(ctx, it) // a redelivery: the result exists, acknowledge
		default:
			preps.Add(1)
			go func() {
				defer preps.Done()
				w.prepare(ctx, it)
				if it.err != nil {
					w.finish(ctx, it)
					return
				}
				b.add <- it
			}()
		}
	}
}

// prepare resolves the item's model and fetches, verifies and preprocesses its image.
func (w *Worker) prepare(ctx context.Context, it *item) {
	w.prep <- struct{}{}
	defer func() { <-w.prep }()

	s, err := w.resolve(ctx, it.req.ClaimedArtist)
	if err != nil {
		it.fail("unknown_artist", err, errors.Is(err, inference.ErrUnknownArtist))
		return
	}
	it.model = s

	t0 := time.Now()
	data, err := w.blobs.Get(ctx, it.req.Bucket, it.req.Key, w.cfg.Limits.MaxBytes)
	if err != nil {
		// A missing object may appear later (replication lag); retries then dead-letter it.
		it.fail("fetch", fmt.Errorf("fetch image: %w", err), errors.Is(err, blob.ErrTooLarge))
		return
	}
	metrics.Preprocess.WithLabelValues("fetch").Observe(time.Since(t0).Seconds())
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != it.req.SHA256 {
		it.fail("hash_mismatch", fmt.Errorf("image s3://%s/%s has sha256 %s, request says %s",
			it.req.Bucket, it.req.Key, got, it.req.SHA256), true)
		return
	}

	t1 := time.Now()
	p := s.meta.Preprocessing
	spec := p.Spec()
	dec, err := imaging.DecodeFor(data, spec, w.cfg.Limits, imaging.Options{
		FastScaledDecode: w.cfg.FastDecode, FastMinRatio: w.cfg.FastDecodeMinRatio})
	if err != nil {
		it.fail("decode", fmt.Errorf("preprocess image %s: %w", it.req.SHA256, err), true)
		return
	}
	defer dec.Release()
	it.input = make([]float32, 3*p.Resize[0]*p.Resize[1])
	dec.Tensor(spec, it.input)
	if det := w.detector(); det != nil && det.meta.Preprocessing != p {
		// The detector takes another input: its tensor comes from the same decode (made for
		// the artist model's size, so with FAST_DECODE a large JPEG may be decoded at a
		// smaller scale than the detector's own evaluation used).
		dp := det.meta.Preprocessing
		it.detPrep = dp
		it.detInput = make([]float32, 3*dp.Resize[0]*dp.Resize[1])
		dec.Tensor(dp.Spec(), it.detInput)
	}
	metrics.Preprocess.WithLabelValues("decode").Observe(time.Since(t1).Seconds())

	// Provenance signals and the duplicate lookup, from the pixels decoded above. Metadata
	// that cannot be read is a signal in itself (recorded as a warning), not a reason to fail
	// the classification.
	t2 := time.Now()
	sig, err := provenance.ExtractWith(data, provenance.Options{Limits: w.cfg.Limits,
		Decoded: dec})
	if err != nil {
		w.log.Warn().Err(err).Str("submission_id", it.req.SubmissionID.String()).
			Msg("provenance signals not extracted")
	} else {
		it.signals = &sig
		if sig.Decoded {
			it.dups, err = w.st.NearDuplicates(ctx, it.req.ArtworkID, it.req.SHA256,
				int64(sig.PHash), w.cfg.Policy.NearDuplicateDistance)
			if err != nil {
				it.fail("db", err, false)
				return
			}
		}
	}
	earlier, err := w.st.OtherSubmissions(ctx, it.req.ArtworkID, it.req.SubmissionID)
	if err != nil {
		it.fail("db", err, false)
		return
	}
	for _, e := range earlier {
		it.dups = append(it.dups, store.Duplicate{Kind: "artwork", ID: e, SHA256: it.req.SHA256,
			Identical: true})
	}
	metrics.Preprocess.WithLabelValues("provenance").Observe(time.Since(t2).Seconds())
	it.ready = time.Now()
}

// execute runs batches on one device until in is closed.
func (w *Worker) execute(ctx context.Context, c *inference.Cache, in <-chan *batch,
	done chan<- *batch) {
	dev := c.Device().String()
	for bt := range in {
		start := time.Now()
		for _, it := range bt.items {
			metrics.QueueDelay.WithLabelValues(bt.model.ref.Artist).
				Observe(start.Sub(it.ready).Seconds())
		}
		w.runBatch(ctx, c, bt, dev)
		done <- bt
	}
}

func (w *Worker) runBatch(ctx context.Context, c *inference.Cache, bt *batch, dev string) {
	fail := func(reason string, err error) {
		for _, it := range bt.items {
			it.fail(reason, err, false)
		}
	}
	m, release, err := c.Acquire(ctx, bt.model.ref)
	if err != nil {
		fail("model_load", err)
		return
	}
	defer release()
	per := m.InputLen()
	input := make([]float32, 0, len(bt.items)*per)
	for _, it := range bt.items {
		if len(it.input) != per {
			fail("model_input", fmt.Errorf("image tensor has %d values, model %s wants %d",
				len(it.input), bt.model.ref, per))
			return
		}
		input = append(input, it.input...)
	}
	t0 := time.Now()
	logits, err := m.Run(input, len(bt.items))
	compute := time.Since(t0)
	if err != nil {
		fail("inference", err)
		return
	}
	metrics.Compute.WithLabelValues(bt.model.ref.Artist, dev).Observe(compute.Seconds())
	metrics.BatchSize.WithLabelValues(bt.model.ref.Artist, dev).Observe(float64(len(bt.items)))
	ref, threshold := bt.model.ref, bt.model.threshold
	for i, it := range bt.items {
		score := inference.Sigmoid(logits[i])
		decision := store.DecisionNotArtist
		if score > threshold {
			decision = store.DecisionArtist
		}
		it.result = &store.Result{
			SubmissionID: it.req.SubmissionID, ArtworkSHA256: it.req.SHA256,
			ModelArtist: ref.Artist, ModelVersion: ref.Version, ModelSHA256: ref.SHA256,
			Logit: logits[i], Score: score, Threshold: threshold, Decision: decision,
			LatencyMS: ms(time.Since(it.received)), BatchSize: len(bt.items),
			Device: m.Device.String(), Worker: w.cfg.WorkerID,
		}
	}
	w.log.Debug().Str("model", ref.Artist).Str("model_version", ref.Version).
		Str("device", dev).Int("batch_size", len(bt.items)).
		Float64("compute_ms", ms(compute)).Msg("batch scored")

	if err := w.detectAI(ctx, c, bt, input); err != nil {
		fail("ai_detector", err)
		return
	}
	w.attribute(ctx, c, bt)
	for _, it := range bt.items {
		it.input, it.detInput = nil, nil // no longer needed; let them go before the commit
		w.decide(it, bt.model)
	}
}

// DetectorArtist is the registry name of the AI-image detector. Claims for it are refused at
// ingest.
const DetectorArtist = inference.DetectorArtist

// detector returns the active AI-image detector, or nil. The active set is kept fresh by
// notices and polling; a missing detector is not looked up in the registry on every batch,
// as an unknown artist would be.
func (w *Worker) detector() *served {
	w.active.mu.RLock()
	defer w.active.mu.RUnlock()
	return w.active.byArtist[DetectorArtist]
}

// detectAI scores the batch with the active AI-image detector: on the batch's input tensor
// when the detector's preprocessing matches the artist model's, otherwise on the tensors
// prepare made for it. Without an active detector it does nothing, and verdicts say that AI
// imitation was not checked; so do the verdicts of images prepared before a detector with
// another input was activated.
func (w *Worker) detectAI(ctx context.Context, c *inference.Cache, bt *batch,
	input []float32) error {
	det := w.detector()
	if det == nil {
		return nil
	}
	items := bt.items
	if det.meta.Preprocessing != bt.model.meta.Preprocessing {
		items = nil
		input = input[:0:0]
		for _, it := range bt.items {
			if it.detInput != nil && it.detPrep == det.meta.Preprocessing {
				items = append(items, it)
				input = append(input, it.detInput...)
			}
		}
		if len(items) == 0 {
			return nil
		}
	}
	m, release, err := c.Acquire(ctx, det.ref)
	if err != nil {
		return err
	}
	defer release()
	logits, err := m.Run(input, len(items))
	if err != nil {
		return err
	}
	for i, it := range items {
		p := inference.Sigmoid(logits[i])
		it.aiScore = &p
		it.aiThreshold = det.threshold
	}
	return nil
}

// attribute scores the items that asked for it, or whose claim failed, against every active
// artist model: one batch per model over the tensors already in memory. A model that cannot
// run is left out of the ranking and logged; attribution never fails a classification.
func (w *Worker) attribute(ctx context.Context, c *inference.Cache, bt *batch) {
	var want []*item
	for _, it := range bt.items {
		if it.req.Attribute || it.result.Decision == store.DecisionNotArtist {
			want = append(want, it)
		}
	}
	artists := w.activeArtists()
	if len(want) == 0 || (len(artists) == 1 && artists[0].ref == bt.model.ref) {
		// Nothing asked for, or the claimed artist's model is the only candidate: its score
		// is the whole ranking, stored with the result already.
		return
	}
	input := make([]float32, 0, len(want)*len(want[0].input))
	for _, it := range want {
		input = append(input, it.input...)
	}
	probs := make([][]store.Attribution, len(want))
	for _, s := range artists {
		var p []float64
		if s.ref == bt.model.ref {
			for _, it := range want {
				p = append(p, it.result.Score)
			}
		} else {
			if s.meta.Preprocessing != bt.model.meta.Preprocessing {
				continue
			}
			m, release, err := c.Acquire(ctx, s.ref)
			if err != nil {
				w.log.Warn().Err(err).Str("model", s.ref.Artist).Msg("left out of attribution")
				continue
			}
			logits, err := m.Run(input, len(want))
			release()
			if err != nil {
				w.log.Warn().Err(err).Str("model", s.ref.Artist).Msg("left out of attribution")
				continue
			}
			for _, l := range logits {
				p = append(p, inference.Sigmoid(l))
			}
		}
		for i := range want {
			probs[i] = append(probs[i], store.Attribution{Artist: s.ref.Artist,
				ModelVersion: s.ref.Version, Probability: p[i]})
		}
	}
	for i, it := range want {
		it.attrib = store.RankAttributions(probs[i], maxAttributions)
	}
}

// maxAttributions bounds the candidates stored per submission.
const maxAttributions = 50

// activeArtists returns the active artist models (not the detector), in a stable order.
func (w *Worker) activeArtists() []*served {
	w.active.mu.RLock()
	defer w.active.mu.RUnlock()
	out := make([]*served, 0, len(w.active.byArtist))
	for a, s := range w.active.byArtist {
		if a != DetectorArtist {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ref.Artist < out[j].ref.Artist })
	return out
}

// decide fuses the scores and signals into the item's verdict.
func (w *Worker) decide(it *item, s *served) {
	in := verdict.Input{ClaimedArtist: it.req.ClaimedArtist, ArtistScore: it.result.Score,
		ArtistThreshold: it.result.Threshold, ModelVersion: it.result.ModelVersion,
		AIScore: it.aiScore, AIThreshold: it.aiThreshold}
	if sg := it.signals; sg != nil {
		if sg.Decoded {
			in.Spectral = &sg.Spectral
		}
		for _, c := range sg.AIClaims() {
			in.AIClaims = append(in.AIClaims, verdict.Claim{Source: c.Source, Value: c.Value})
		}
	}
	for _, d := range it.dups {
		in.Duplicates = append(in.Duplicates, verdict.Duplicate{Kind: d.Kind,
			ID: d.ID.String(), Distance: d.Distance, Identical: d.Identical, Artist: d.Artist,
			Title: d.Title})
	}
	p := w.cfg.Policy
	if s.policy != nil {
		p = *s.policy
	}
	r := verdict.Decide(in, p)
	it.verdict = &r
	it.policy = p
}

// commit writes each batch's results in one transaction, then settles its messages.
func (w *Worker) commit(ctx context.Context, done <-chan *batch) {
	for bt := range done {
		var outs []store.Outcome
		for _, it := range bt.items {
			if it.err == nil {
				outs = append(outs, w.outcome(it))
			}
		}
		if len(outs) > 0 {
			raised, err := w.st.SaveOutcomes(ctx, outs, alerts.Message(w.cfg.Events), true)
			if err != nil {
				for _, it := range bt.items {
					it.fail("db", fmt.Errorf("save results: %w", err), false)
				}
			}
			for _, a := range raised {
				metrics.Alerts.WithLabelValues(a.Reason).Inc()
				w.log.Warn().Str("alert_id", a.ID.String()).Str("reason", a.Reason).
					Str("artwork_id", a.ArtworkID.String()).Msg("alert raised")
			}
		}
		for _, it := range bt.items {
			w.finish(ctx, it)
		}
	}
}

// outcome gathers what the worker learned about an item for storage.
func (w *Worker) outcome(it *item) store.Outcome {
	o := store.Outcome{Result: *it.result, Attributions: it.attrib}
	scores := map[string]any{"artist": it.result.Score, "artist_threshold": it.result.Threshold,
		"artist_logit": it.result.Logit, "model_version": it.result.ModelVersion}
	if it.aiScore != nil {
		scores["ai_detector"] = *it.aiScore
		scores["ai_threshold"] = it.aiThreshold
	}
	if sg := it.signals; sg != nil {
		raw, _ := json.Marshal(sg)
		claims, _ := json.Marshal(sg.AIClaims())
		o.Signals = &store.ArtworkSignals{ArtworkID: it.req.ArtworkID, PHash: int64(sg.PHash),
			DHash: int64(sg.DHash), Spectral: sg.Spectral, AIClaims: claims, Signals: raw}
		if sg.Decoded {
			scores["spectral"] = sg.Spectral
		}
	}
	if v := it.verdict; v != nil {
		reasons, _ := json.Marshal(v.Reasons)
		sc, _ := json.Marshal(scores)
		pol, _ := json.Marshal(it.policy)
		o.Verdict = &store.Verdict{SubmissionID: it.req.SubmissionID, Verdict: v.Verdict,
			Reasons: reasons, Scores: sc, Policy: pol}
		seen := map[string]bool{}
		for _, r := range v.Reasons {
			if !verdict.AlertReasons[r.Code] || seen[r.Code] {
				continue
			}
			seen[r.Code] = true
			details, _ := json.Marshal(map[string]any{"verdict": v.Verdict,
				"claimed_artist": it.req.ClaimedArtist, "reasons": v.Reasons, "scores": scores,
				"duplicates": it.dups})
			id := it.req.SubmissionID
			o.Alerts = append(o.Alerts, store.Alert{ArtworkID: it.req.ArtworkID,
				SubmissionID: &id, Reason: r.Code, Details: details})
		}
	}
	return o
}

// finish settles one message: ack after success, or record and terminate a permanent
// failure, or redeliver a transient one later (dead-lettering it on its last delivery).
func (w *Worker) finish(ctx context.Context, it *item) {
	defer w.untrack(it)
	outcome := "classified"
	switch {
	case it.err != nil:
		outcome = w.settleFailure(ctx, it)
		metrics.Failures.WithLabelValues(outcome, it.reason).Inc()
	case it.result == nil:
		outcome = "duplicate"
		w.log.Info().Str("submission_id", it.req.SubmissionID.String()).
			Uint64("num_delivered", it.numDelivered()).
			Msg("already classified; acknowledging redelivery")
		w.ack(it)
	default:
		w.log.Info().Str("submission_id", it.req.SubmissionID.String()).
			Str("model", it.result.ModelArtist).Str("model_version", it.result.ModelVersion).
			Int("batch_size", it.result.BatchSize).Float64("score", it.result.Score).
			Str("decision", it.result.Decision).Float64("duration_ms", it.result.LatencyMS).
			Str("outcome", outcome).Msg("classified")
		w.ack(it)
	}
	metrics.Messages.WithLabelValues(outcome).Inc()
	metrics.EndToEnd.WithLabelValues(outcome).Observe(time.Since(it.received).Seconds())
}

func (w *Worker) settleFailure(ctx context.Context, it *item) string {
	n := it.numDelivered()
	last := int(n) >= w.cfg.Events.MaxDeliver
	log := w.log.With().Str("submission_id", it.req.SubmissionID.String()).
		Uint64("num_delivered", n).Str("reason", it.reason).Err(it.err).Logger()
	if !it.perm && !last {
		delay := w.cfg.Events.Delay(n)
		log.Warn().Dur("redeliver_in", delay).Str("outcome", "retried").
			Msg("transient failure; will retry")
		if err := it.msg.NakWithDelay(delay); err != nil {
			log.Error().AnErr("nak_error", err).Msg("nak failed; the ack wait will redeliver")
		}
		return "retried"
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
		return "retried"
	}
	outcome := "failed_permanent"
	if f.Kind == store.FailureDeadLetter {
		outcome = "dead_letter"
	}
	log.Warn().Str("outcome", outcome).Msg("failure recorded; message terminated")
	if err := it.msg.Term(); err != nil {
		log.Error().AnErr("term_error", err).Msg("terminate failed")
	}
	return outcome
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
	metrics.Messages.WithLabelValues("dead_letter").Inc()
	w.log.Warn().Uint64("stream_seq", dl.StreamSeq).Int("num_delivered", dl.Deliveries).
		Str("outcome", f.Kind).Msg("abandoned message dead-lettered")
	return nil
}

func (w *Worker) ack(it *item) {
	if err := it.msg.Ack(); err != nil {
		w.log.Error().Err(err).Str("submission_id", it.req.SubmissionID.String()).
			Msg("ack failed; the redelivery will find the result and ack again")
	}
}

func (w *Worker) track(it *item) {
	w.mu.Lock()
	w.inflight[it] = struct{}{}
	w.mu.Unlock()
}

func (w *Worker) untrack(it *item) {
	w.mu.Lock()
	delete(w.inflight, it)
	w.mu.Unlock()
	<-w.slots
}

// keepAlive tells JetStream every third of the ack wait that the messages in hand are being
// worked on, so that a long queue or batch is not redelivered to another worker.
func (w *Worker) keepAlive() func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(w.cfg.Events.AckWait / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				w.mu.Lock()
				msgs := make([]jetstream.Msg, 0, len(w.inflight))
				for it := range w.inflight {
					msgs = append(msgs, it.msg)
				}
				w.mu.Unlock()
				for _, m := range msgs {
					m.InProgress()
				}
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done) }) }
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
