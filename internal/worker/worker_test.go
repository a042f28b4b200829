package worker_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/ingest"
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
	w     *worker.Worker
}

// setup returns a worker over real services with the tiny models, and an ingest service used
// to create submissions the way production does.
func setup(t *testing.T) bundle {
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
	reg := inference.NewDirRegistry(testenv.Models(t, "tiny"),
		inference.SessionConfig{Device: inference.CPU, IntraOpThreads: 1}, log)
	reg.OnLoad = func(m *inference.Model) error {
		return st.RecordModel(ctx, store.Model{Artist: m.Meta.Artist, Version: m.Meta.Version,
			SHA256: m.Meta.SHA256, Arch: m.Meta.Arch, Threshold: m.Meta.Threshold,
			Location: m.Dir, Metadata: m.RawMeta})
	}
	t.Cleanup(reg.Close)
	w, err := worker.New(worker.Config{Events: cfg, BatchSize: 16, FetchWait: 100 * time.Millisecond,
		WorkerID: "test"}, st, blobs, js, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	return bundle{st: st, nc: nc, js: js, cfg: cfg, blobs: blobs, ing: ing, w: w}
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
	var payload []byte
	b.st.Pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE msg_id = $1`,
		"classify:"+acc.Submission.ID.String()).Scan(&payload)
	req, err := events.DecodeClassifyRequest(payload)
	if err != nil {
		t.Fatal(err)
	}
	return req
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
func (b bundle) run(t *testing.T) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.w.Run(ctx) }()
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
	b := setup(t)
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
	b := setup(t)
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
