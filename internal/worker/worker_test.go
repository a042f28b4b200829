package worker_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/ingest"
	"github.com/artauth/artauth/internal/metrics"
	"github.com/artauth/artauth/internal/registry"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
	"github.com/artauth/artauth/internal/worker"
)

type bundle struct {
	st    *store.Store
	nc    *nats.Conn
	js    jetstream.JetStream
	cfg   events.Config
	blobs *blob.Client
	ing   *ingest.Service
	reg   *registry.Registry
	w     *worker.Worker
	log   zerolog.Logger
}

// setup returns a worker over real services serving the tiny models from the registry, and an
// ingest service used to create submissions the way production does.
func setup(t *testing.T, tune func(*worker.Config)) bundle {
	st, _ := testenv.Postgres(t)
	nc, js, cfg, _ := testenv.NATS(t)
	s3 := testenv.S3(t, "", "")
	testenv.ORT(t)
	ctx := context.Background()
	blobs, err := blob.New(ctx, s3.BlobConfig())
	if err != nil {
		t.Fatal(err)
	}
	log := testenv.Logger(t)
	ing, err := ingest.New(ingest.Config{Events: cfg}, st, blobs, js, log)
	if err != nil {
		t.Fatal(err)
	}
	if err := ing.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{CacheDir: t.TempDir(),
		NoticeSubject: cfg.Prefix + ".models.activated"}, st, blobs, nc, log)
	tiny := testenv.Models(t, "tiny")
	for _, artist := range []string{"monet", "vangogh"} {
		if _, err := reg.Register(ctx, filepath.Join(tiny, artist, "1.0.0")); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Activate(ctx, artist, "1.0.0"); err != nil {
			t.Fatal(err)
		}
	}
	b := bundle{st: st, nc: nc, js: js, cfg: cfg, blobs: blobs, ing: ing, reg: reg, log: log}
	b.w = b.newWorker(t, tune)
	return b
}

// newWorker builds another worker over the same services, e.g. with other batching settings.
func (b bundle) newWorker(t *testing.T, tune func(*worker.Config)) *worker.Worker {
	t.Helper()
	cache := inference.NewCache(inference.CacheConfig{Session: inference.SessionConfig{
		Device: inference.CPU, IntraOpThreads: 1}}, b.reg.Fetch, b.log)
	t.Cleanup(cache.Close)
	cfg := worker.Config{Events: b.cfg, MaxBatch: 16, MaxDelay: 300 * time.Millisecond,
		FetchWait: 100 * time.Millisecond, WorkerID: "test"}
	if tune != nil {
		tune(&cfg)
	}
	w, err := worker.New(cfg, b.st, b.blobs, b.js, b.reg, []*inference.Cache{cache}, b.log)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// submit records a submission through ingest and returns its classification request, not
// yet published.
func (b bundle) submit(t *testing.T, path, artist string) events.ClassifyRequest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := b.ing.Submit(context.Background(), data, ingest.Claim{ClaimedArtist: artist},
		store.SourceAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.OutboxRequest(t, b.st, acc.Submission.ID)
}

func (b bundle) publish(t *testing.T, req events.ClassifyRequest) {
	t.Helper()
	payload, _ := json.Marshal(req)
	if _, err := b.js.Publish(context.Background(), b.cfg.ClassifySubject(req.ClaimedArtist),
		payload, jetstream.WithMsgID(req.MsgID())); err != nil {
		t.Fatal(err)
	}
}

// run starts the worker and returns a function that stops it and waits.
func (b bundle) run(t *testing.T) func() { return runWorker(t, b.w) }

func runWorker(t *testing.T, w *worker.Worker) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}
	t.Cleanup(func() {
		select {
		case <-ctx.Done():
		default:
			stop()
		}
	})
	return stop
}

func (b bundle) view(t *testing.T, id uuid.UUID) store.SubmissionView {
	t.Helper()
	v, err := b.st.GetSubmission(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (b bundle) waitStatus(t *testing.T, id uuid.UUID, status string) store.SubmissionView {
	t.Helper()
	var v store.SubmissionView
	testenv.Eventually(t, 30*time.Second, "submission "+status, func() bool {
		v = b.view(t, id)
		return v.Status == status
	})
	return v
}

func TestWorker(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	monets := testenv.ArtImages(t, "monet", 12)

	t.Run("BatchFormsFromQueuedMessages", func(t *testing.T) {
		var reqs []events.ClassifyRequest
		for _, f := range monets[:6] {
			req := b.submit(t, f, "monet")
			b.publish(t, req)
			reqs = append(reqs, req)
		}
		stop := b.run(t)
		defer stop()
		for _, r := range reqs {
			v := b.waitStatus(t, r.SubmissionID, store.StatusClassified)
			if v.Result.BatchSize != 6 || v.Result.ModelVersion != "1.0.0" {
				t.Fatalf("result %+v: want batch size 6 and version 1.0.0", v.Result)
			}
		}
	})

	t.Run("TransientFailureRedeliveredThenSucceeds", func(t *testing.T) {
		req := b.submit(t, monets[6], "monet")
		// The object is not where the request says yet: the first deliveries fail.
		data, _ := os.ReadFile(monets[6])
		req.Key = "late/" + req.SHA256
		b.publish(t, req)
		stop := b.run(t)
		defer stop()
		time.Sleep(300 * time.Millisecond)
		if v := b.view(t, req.SubmissionID); v.Status != store.StatusQueued {
			t.Fatalf("status %s before the object exists, want queued", v.Status)
		}
		if err := b.blobs.Put(ctx, req.Bucket, req.Key, data, "", nil); err != nil {
			t.Fatal(err)
		}
		b.waitStatus(t, req.SubmissionID, store.StatusClassified)
	})

	t.Run("DeadLetterAfterMaxDeliveries", func(t *testing.T) {
		req := b.submit(t, monets[7], "monet")
		req.Key = "never/" + req.SHA256
		b.publish(t, req)
		stop := b.run(t)
		defer stop()
		v := b.waitStatus(t, req.SubmissionID, store.StatusFailed)
		if len(v.Failures) != 1 || v.Failures[0].Kind != store.FailureDeadLetter ||
			v.Failures[0].Deliveries != b.cfg.MaxDeliver ||
			!strings.Contains(v.Failures[0].Reason, "gave up after 3 deliveries") {
			t.Fatalf("failures %+v", v.Failures)
		}
	})

	t.Run("HashMismatchIsPermanent", func(t *testing.T) {
		req := b.submit(t, monets[8], "monet")
		other := b.submit(t, monets[9], "monet")
		req.Key = other.Key // another image's bytes
		b.publish(t, req)
		stop := b.run(t)
		defer stop()
		v := b.waitStatus(t, req.SubmissionID, store.StatusFailed)
		if len(v.Failures) != 1 || v.Failures[0].Kind != store.FailurePermanent ||
			v.Failures[0].Deliveries != 1 || !strings.Contains(v.FailureReason, "sha256") {
			t.Fatalf("failures %+v reason %q", v.Failures, v.FailureReason)
		}
	})

	t.Run("MalformedMessageRecordedWithPayload", func(t *testing.T) {
		if _, err := b.js.Publish(ctx, b.cfg.ClassifySubject("monet"),
			[]byte(`{"schema":"artauth.classify.v0"}`)); err != nil {
			t.Fatal(err)
		}
		stop := b.run(t)
		defer stop()
		testenv.Eventually(t, 10*time.Second, "the failure row", func() bool {
			var n int
			b.st.Pool.QueryRow(ctx, `SELECT count(*) FROM failures WHERE submission_id IS NULL
				AND kind = 'permanent' AND reason LIKE '%schema%'
				AND payload = '{"schema":"artauth.classify.v0"}'`).Scan(&n)
			return n == 1
		})
	})

	t.Run("MixedArtistsInOneFetch", func(t *testing.T) {
		a := b.submit(t, monets[10], "monet")
		v := b.submit(t, monets[11], "vangogh")
		b.publish(t, a)
		b.publish(t, v)
		stop := b.run(t)
		defer stop()
		ra := b.waitStatus(t, a.SubmissionID, store.StatusClassified).Result
		rv := b.waitStatus(t, v.SubmissionID, store.StatusClassified).Result
		if ra.ModelArtist != "monet" || rv.ModelArtist != "vangogh" {
			t.Fatalf("scored by %s and %s", ra.ModelArtist, rv.ModelArtist)
		}
	})
}

func TestDeadLetterWatcher(t *testing.T) {
	b := setup(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// A consumer that gives up quickly, so that abandoned deliveries exhaust in seconds.
	b.cfg.AckWait = time.Second
	b.cfg.MaxDeliver = 2
	if err := events.Setup(ctx, b.js, b.cfg); err != nil {
		t.Fatal(err)
	}
	if err := events.WatchDeadLetters(ctx, b.nc, b.js, b.cfg.Stream, b.cfg.Consumer,
		b.w.RecordDeadLetter); err != nil {
		t.Fatal(err)
	}
	req := b.submit(t, testenv.ArtImages(t, "monet", 1)[0], "monet")
	b.publish(t, req)

	// A "worker" that takes the message and dies, twice.
	cons, err := b.js.Consumer(ctx, b.cfg.Stream, b.cfg.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if n := len(collect(batch)); n != 1 {
			t.Fatalf("delivery %d: got %d messages", i+1, n)
		}
	}
	// The server notices the exhausted message when a consumer next asks for work.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(collect(batch)); n != 0 {
		t.Fatalf("a third delivery happened (%d messages) past MaxDeliver 2", n)
	}
	v := b.waitStatus(t, req.SubmissionID, store.StatusFailed)
	if len(v.Failures) != 1 || v.Failures[0].Kind != store.FailureDeadLetter ||
		!strings.Contains(v.FailureReason, "no worker settled") {
		t.Fatalf("failures %+v", v.Failures)
	}
	testenv.Eventually(t, 5*time.Second, "the message deleted from the stream", func() bool {
		s, _ := b.js.Stream(ctx, b.cfg.Stream)
		info, err := s.Info(ctx)
		return err == nil && info.State.Msgs == 0
	})
}

func collect(batch jetstream.MessageBatch) []jetstream.Msg {
	var out []jetstream.Msg
	for m := range batch.Messages() {
		out = append(out, m)
	}
	return out
}

func TestBatching(t *testing.T) {
	b := setup(t, nil)
	monets := testenv.ArtImages(t, "monet", 9)

	t.Run("FlushedByDelayWhenIdle", func(t *testing.T) {
		w := b.newWorker(t, func(c *worker.Config) { c.MaxDelay = 400 * time.Millisecond })
		stop := runWorker(t, w)
		defer stop()
		req := b.submit(t, monets[0], "monet")
		b.publish(t, req)
		r := b.waitStatus(t, req.SubmissionID, store.StatusClassified).Result
		if r.BatchSize != 1 || r.LatencyMS < 400 {
			t.Fatalf("batch size %d after %.0f ms: want 1, flushed by the 400 ms delay",
				r.BatchSize, r.LatencyMS)
		}
	})

	t.Run("LeavesWhenFullWithoutWaiting", func(t *testing.T) {
		w := b.newWorker(t, func(c *worker.Config) {
			c.MaxBatch = 4
			c.MaxDelay = time.Minute
		})
		var reqs []events.ClassifyRequest
		for _, f := range monets[1:9] {
			req := b.submit(t, f, "monet")
			b.publish(t, req)
			reqs = append(reqs, req)
		}
		start := time.Now()
		stop := runWorker(t, w)
		defer stop()
		for _, req := range reqs {
			r := b.waitStatus(t, req.SubmissionID, store.StatusClassified).Result
			if r.BatchSize != 4 {
				t.Fatalf("batch size %d, want 4", r.BatchSize)
			}
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Fatalf("full batches took %s: they waited for the delay", d)
		}
	})
}

// versionDir copies a tiny model under another artist and version, as a retrained model
// would arrive. A salt > 0 appends an unknown protobuf field to the ONNX file (field 1000,
// ignored by parsers), giving the same graph a new hash.
func versionDir(t *testing.T, from, artist, version string, salt byte) string {
	t.Helper()
	src := filepath.Join(testenv.Models(t, "tiny"), from, "1.0.0")
	dst := filepath.Join(t.TempDir(), artist, version)
	os.MkdirAll(dst, 0o755)
	onnx, _ := os.ReadFile(filepath.Join(src, "model.onnx"))
	if salt > 0 {
		onnx = append(onnx, 0xC0, 0x3E, salt)
	}
	os.WriteFile(filepath.Join(dst, "model.onnx"), onnx, 0o644)
	var meta map[string]any
	raw, _ := os.ReadFile(filepath.Join(src, "model.json"))
	json.Unmarshal(raw, &meta)
	sum := sha256.Sum256(onnx)
	meta["artist"], meta["version"] = artist, version
	meta["sha256"] = hex.EncodeToString(sum[:])
	raw, _ = json.Marshal(meta)
	os.WriteFile(filepath.Join(dst, "model.json"), raw, 0o644)
	return dst
}

// directScore scores an image with a model directory through the same packages, in process.
func directScore(t *testing.T, dir, path string) float64 {
	t.Helper()
	m, err := inference.Load(dir, inference.SessionConfig{Device: inference.CPU},
		zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	data, _ := os.ReadFile(path)
	in := make([]float32, m.InputLen())
	p := m.Meta.Preprocessing
	if _, err := imaging.Preprocess(data, imaging.Spec{Height: p.Resize[0],
		Width: p.Resize[1], Mean: p.Mean, Std: p.Std}, imaging.DefaultLimits(),
		imaging.Options{}, in); err != nil {
		t.Fatal(err)
	}
	logits, err := m.Run(in, 1)
	if err != nil {
		t.Fatal(err)
	}
	return inference.Sigmoid(logits[0])
}

func TestActivation(t *testing.T) {
	b := setup(t, func(c *worker.Config) {
		c.MaxBatch = 2
		c.MaxDelay = 20 * time.Millisecond
	})
	ctx := context.Background()
	v1 := filepath.Join(testenv.Models(t, "tiny"), "monet", "1.0.0")
	v2 := versionDir(t, "vangogh", "monet", "2.0.0", 0) // other weights: other scores
	if _, err := b.reg.Register(ctx, v2); err != nil {
		t.Fatal(err)
	}

	t.Run("MidStreamEveryMessageScoredOnceWithItsVersion", func(t *testing.T) {
		files := testenv.ArtImages(t, "monet", 40)
		stop := b.run(t)
		defer stop()
		byID := map[uuid.UUID]string{}
		for i, f := range files {
			req := b.submit(t, f, "monet")
			byID[req.SubmissionID] = f
			b.publish(t, req)
			if i == len(files)/2 {
				if _, err := b.reg.Activate(ctx, "monet", "2.0.0"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(15 * time.Millisecond)
		}
		seen := map[string]int{}
		for id, f := range byID {
			r := b.waitStatus(t, id, store.StatusClassified).Result
			seen[r.ModelVersion]++
			dir := map[string]string{"1.0.0": v1, "2.0.0": v2}[r.ModelVersion]
			if want := directScore(t, dir, f); math.Abs(r.Score-want) > 1e-6 {
				t.Fatalf("%s scored %.6f as %s, which gives %.6f", f, r.Score, r.ModelVersion,
					want)
			}
		}
		var n int
		b.st.Pool.QueryRow(ctx, `SELECT count(*) FROM results`).Scan(&n)
		if seen["1.0.0"] == 0 || seen["2.0.0"] == 0 || n < len(byID) {
			t.Fatalf("versions %v over %d results: want both versions, one result each", seen, n)
		}
		t.Logf("versions recorded: %v", seen)
	})

	t.Run("CorruptVersionRefusedOldKeepsServing", func(t *testing.T) {
		stop := b.run(t)
		defer stop()
		v3 := versionDir(t, "monet", "monet", "3.0.0", 1) // a file no worker has cached
		if _, err := b.reg.Register(ctx, v3); err != nil {
			t.Fatal(err)
		}
		// The file is damaged in S3 after registration. The registry refuses to activate it...
		b.blobs.Put(ctx, "models", "monet/3.0.0/model.onnx", []byte("garbage"), "", nil)
		if _, err := b.reg.Activate(ctx, "monet", "3.0.0"); !errors.Is(err,
			inference.ErrBadModel) {
			t.Fatalf("activating a damaged file: %v, want ErrBadModel", err)
		}
		// ...and a worker told to switch anyway (the row changed behind the registry's back)
		// refuses it and keeps serving the old version.
		refused := testutil.ToFloat64(metrics.ModelActivations.WithLabelValues("refused"))
		if _, err := b.st.ActivateModel(ctx, "monet", "3.0.0"); err != nil {
			t.Fatal(err)
		}
		b.nc.Publish(b.reg.Config().NoticeSubject, []byte(`{"artist":"monet"}`))
		testenv.Eventually(t, 10*time.Second, "the worker to refuse the version", func() bool {
			return testutil.ToFloat64(metrics.ModelActivations.WithLabelValues("refused")) >
				refused
		})
		req := b.submit(t, testenv.ArtImages(t, "monet", 41)[40], "monet")
		b.publish(t, req)
		r := b.waitStatus(t, req.SubmissionID, store.StatusClassified).Result
		if r.ModelVersion != "2.0.0" {
			t.Fatalf("scored by %s, want the old version 2.0.0", r.ModelVersion)
		}
	})
}

// TestDetectorWithItsOwnInput serves a detector whose input differs from the artist
// model's (the tiny CNN at 224 px beside the shipped 128 px Monet model): every image must
// get the detector's score computed on its own tensor, equal to a direct run.
func TestDetectorWithItsOwnInput(t *testing.T) {
	b := setup(t, nil)
	ctx := context.Background()
	monet := filepath.Join(testenv.Repo(t), "models", "monet", "0.1.0")
	det := versionDir(t, "vangogh", worker.DetectorArtist, "1.0.0", 0)
	for _, c := range []struct{ dir, artist, version string }{
		{monet, "monet", "0.1.0"}, {det, worker.DetectorArtist, "1.0.0"}} {
		if _, err := b.reg.Register(ctx, c.dir); err != nil {
			t.Fatal(err)
		}
		if _, err := b.reg.Activate(ctx, c.artist, c.version); err != nil {
			t.Fatal(err)
		}
	}
	w := b.newWorker(t, nil)
	defer runWorker(t, w)()
	for _, f := range testenv.ArtImages(t, "monet", 3) {
		req := b.submit(t, f, "monet")
		b.publish(t, req)
		v := b.waitStatus(t, req.SubmissionID, store.StatusClassified)
		if v.Result.ModelVersion != "0.1.0" ||
			math.Abs(v.Result.Score-directScore(t, monet, f)) > 1e-6 {
			t.Fatalf("%s: result %+v, want monet@0.1.0's direct score", f, v.Result)
		}
		var scores struct {
			AI *float64 `json:"ai_detector"`
		}
		if v.Verdict == nil || json.Unmarshal(v.Verdict.Scores, &scores) != nil ||
			scores.AI == nil {
			t.Fatalf("%s: verdict %+v has no detector score", f, v.Verdict)
		}
		if want := directScore(t, det, f); math.Abs(*scores.AI-want) > 1e-6 {
			t.Fatalf("%s: detector score %.6f, a direct run on its 224 px input gives %.6f",
				f, *scores.AI, want)
		}
	}
}

// TestInstancesShareTheQueue runs a worker with two instances of the CPU (two caches, each
// with its own sessions, as INSTANCES_PER_DEVICE=2 makes): both must take batches, and every
// image must be scored once.
func TestInstancesShareTheQueue(t *testing.T) {
	b := setup(t, nil)
	var caches []*inference.Cache
	for i := 0; i < 2; i++ {
		c := inference.NewCache(inference.CacheConfig{Session: inference.SessionConfig{
			Device: inference.CPU, IntraOpThreads: 1}, Instance: i}, b.reg.Fetch, b.log)
		t.Cleanup(c.Close)
		caches = append(caches, c)
	}
	w, err := worker.New(worker.Config{Events: b.cfg, MaxBatch: 2,
		MaxDelay: 20 * time.Millisecond, FetchWait: 50 * time.Millisecond, WorkerID: "two"},
		b.st, b.blobs, b.js, b.reg, caches, b.log)
	if err != nil {
		t.Fatal(err)
	}
	defer runWorker(t, w)()
	var ids []uuid.UUID
	for _, f := range testenv.ArtImages(t, "monet", 24) {
		req := b.submit(t, f, "monet")
		b.publish(t, req)
		ids = append(ids, req.SubmissionID)
	}
	for _, id := range ids {
		b.waitStatus(t, id, store.StatusClassified)
	}
	var n int
	b.st.Pool.QueryRow(context.Background(), `SELECT count(*) FROM results`).Scan(&n)
	if n != len(ids) {
		t.Fatalf("%d results for %d images", n, len(ids))
	}
	for i, c := range caches {
		if len(c.Resident()) == 0 {
			t.Errorf("instance %d never loaded the model: it took no batch", i)
		}
	}
}
