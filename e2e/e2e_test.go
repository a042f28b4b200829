// Package e2e starts ingest and a classifier worker as real processes against real Postgres,
// NATS JetStream, versitygw and ONNX Runtime, and checks the whole path from upload to result.
package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"math"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/alerts"
	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/eval"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/ingest"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
	"github.com/artauth/artauth/internal/verdict"
)

type stack struct {
	t       *testing.T
	st      *store.Store
	js      jetstream.JetStream
	nc      *nats.Conn
	cfg     events.Config
	blobs   *blob.Client
	ingest  string            // base URL
	metrics string            // the worker's /metrics URL
	models  map[string]string // artist -> model version directory
	procLog map[string]string
	hooks   *hookReceiver
	alerts  chan *nats.Msg
}

// hookReceiver is the marketplace's webhook endpoint: it checks each signature.
type hookReceiver struct {
	mu     sync.Mutex
	got    []events.AlertMessage
	badSig int
}

const hookSecret = "e2e-webhook-secret"

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := alerts.Verify([]byte(hookSecret), r.Header.Get(alerts.HeaderSignature), body,
		time.Now(), time.Minute); err != nil {
		h.badSig++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m events.AlertMessage
	json.Unmarshal(body, &m)
	h.got = append(h.got, m)
}

func (h *hookReceiver) has(artwork uuid.UUID, reason string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, m := range h.got {
		if m.ArtworkID == artwork && m.Reason == reason {
			return true
		}
	}
	return false
}

// testModels are the models most tests serve: monet by a ResNet-101 (the published
// architecture), vangogh by a tiny CNN; both untrained.
func testModels(t *testing.T) map[string]string {
	return map[string]string{
		"monet":   filepath.Join(testenv.Models(t, "resnet101"), "monet", "1.0.0"),
		"vangogh": filepath.Join(testenv.Models(t, "tiny"), "vangogh", "1.0.0"),
	}
}

// start builds the binaries and runs them with configuration from the environment, as an
// operator would; models maps each artist to the model version directory registered and
// activated for it.
func start(t *testing.T, models map[string]string) *stack {
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	st, dbURL := testenv.Postgres(t)
	nc, js, cfg, natsURL := testenv.NATS(t)
	s3 := testenv.S3(t, natsURL, cfg.S3Subject)
	ortLib := testenv.ORT(t)

	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "./cmd/ingest", "./cmd/classifier-worker",
		"./cmd/authctl")
	build.Dir = testenv.Repo(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build binaries: %v\n%s", err, out)
	}

	port := testenv.FreePort(t)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	hooks := &hookReceiver{}
	hookSrv := httptest.NewServer(hooks)
	t.Cleanup(hookSrv.Close)
	alertMsgs := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe(cfg.AlertSubject(">"), alertMsgs); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(),
		"DATABASE_URL="+dbURL, "NATS_URL="+natsURL,
		"S3_ENDPOINT="+s3.Endpoint, "S3_ACCESS_KEY_ID="+s3.AccessKey,
		"S3_SECRET_ACCESS_KEY="+s3.SecretKey,
		"ARTAUTH_SUBJECT_PREFIX="+cfg.Prefix, "ARTAUTH_STREAM="+cfg.Stream,
		"ARTAUTH_S3_EVENTS_STREAM="+cfg.S3Stream, "ARTAUTH_S3_EVENTS_SUBJECT="+cfg.S3Subject,
		"ARTAUTH_MAX_DELIVER=3", "ARTAUTH_ACK_WAIT=5s", "ARTAUTH_BACKOFF=200ms,500ms",
		fmt.Sprintf("HTTP_ADDR=127.0.0.1:%d", port), "OUTBOX_POLL=200ms",
		"MODEL_CACHE_DIR="+t.TempDir(), "MODEL_NOTICE_SUBJECT="+cfg.Prefix+".models",
		"ORT_LIB="+ortLib, "BATCH_SIZE=8", "MAX_QUEUE_DELAY=100ms", "FETCH_WAIT=100ms",
		"ORT_INTRA_OP_THREADS=2", "LOG_LEVEL=debug", "METRICS_ADDR="+metricsAddr,
		"ARTAUTH_ALERT_STREAM="+cfg.AlertStream, "WEBHOOK_URL="+hookSrv.URL,
		"WEBHOOK_SECRET="+hookSecret)
	s := &stack{t: t, st: st, js: js, nc: nc, cfg: cfg, models: models,
		ingest:  fmt.Sprintf("http://127.0.0.1:%d", port),
		metrics: "http://" + metricsAddr + "/metrics", procLog: map[string]string{},
		hooks: hooks, alerts: alertMsgs}
	s.run(filepath.Join(bin, "ingest"), env)
	testenv.WaitPort(t, fmt.Sprintf("127.0.0.1:%d", port), 30*time.Second, s.procLog["ingest"])

	// Models go through the registry as an operator would put them there.
	for artist, dir := range models {
		meta, _, err := inference.ReadMetadata(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"models", "register", dir},
			{"models", "activate", artist + "@" + meta.Version}} {
			cmd := exec.Command(filepath.Join(bin, "authctl"), args...)
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("authctl %v: %v\n%s", args, err, out)
			}
		}
	}
	s.run(filepath.Join(bin, "classifier-worker"), env)

	var err error
	s.blobs, err = blob.New(context.Background(), s3.BlobConfig())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *stack) run(path string, env []string) {
	name := filepath.Base(path)
	logPath := filepath.Join(s.t.TempDir(), name+".log")
	f, _ := os.Create(logPath)
	cmd := exec.Command(path)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, f, f
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	s.procLog[name] = logPath
	s.t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		f.Close()
		if s.t.Failed() {
			b, _ := os.ReadFile(logPath)
			s.t.Logf("--- %s log ---\n%s", name, tail(string(b), 6000))
		}
	})
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func (s *stack) upload(data []byte, claim ingest.Claim) (int, ingest.SubmitResponse) {
	s.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, _ := json.Marshal(claim)
	mw.WriteField("metadata", string(meta))
	fw, _ := mw.CreateFormFile("image", "upload.jpg")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(s.ingest+"/v1/artworks", mw.FormDataContentType(), &body)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out ingest.SubmitResponse
	json.Unmarshal(raw, &out)
	if resp.StatusCode >= 300 {
		s.t.Logf("upload answered %d: %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func (s *stack) status(id uuid.UUID) store.SubmissionView {
	s.t.Helper()
	resp, err := http.Get(s.ingest + "/v1/submissions/" + id.String())
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var v store.SubmissionView
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		s.t.Fatalf("decode status of %s: %v", id, err)
	}
	return v
}

func (s *stack) waitDone(id uuid.UUID) store.SubmissionView {
	s.t.Helper()
	var v store.SubmissionView
	testenv.Eventually(s.t, 3*time.Minute, "submission "+id.String()+" to finish", func() bool {
		v = s.status(id)
		return v.Status != store.StatusQueued
	})
	return v
}

func (s *stack) count(q string, args ...any) int {
	s.t.Helper()
	var n int
	if err := s.st.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		s.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// directScore runs the same bytes through the same ONNX file with onnxruntime_go in this
// process: the reference the worker's stored score must equal.
func (s *stack) directScore(artist string, data []byte) (string, float64) {
	s.t.Helper()
	m, err := inference.Load(s.models[artist], inference.SessionConfig{Device: inference.CPU},
		testenv.Logger(s.t))
	if err != nil {
		s.t.Fatal(err)
	}
	defer m.Close()
	p := m.Meta.Preprocessing
	spec := imaging.Spec{Height: p.Resize[0], Width: p.Resize[1], Mean: p.Mean, Std: p.Std}
	input := make([]float32, m.InputLen())
	if _, err := imaging.Preprocess(data, spec, imaging.DefaultLimits(), imaging.Options{},
		input); err != nil {
		s.t.Fatal(err)
	}
	logits, err := m.Run(input, 1)
	if err != nil {
		s.t.Fatal(err)
	}
	return m.Meta.Version, inference.Sigmoid(logits[0])
}

func read(t *testing.T, path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestEndToEnd(t *testing.T) {
	s := start(t, testModels(t))
	ctx := context.Background()
	monets := testenv.ArtImages(t, "monet", 3)
	vangoghs := testenv.ArtImages(t, "other_artists/vincent_van_gogh", 1)
	bigScan := testenv.ArtImages(t, "other_artists/camille_pissarro", 1)

	type want struct {
		id     uuid.UUID
		artist string
		data   []byte
	}
	var wants []want

	// Through the API: three Monets, a large Pissarro scan claimed as a Monet, a Van Gogh.
	for _, f := range append(append(monets, bigScan...), vangoghs...) {
		artist := "monet"
		if strings.Contains(f, "van_gogh") {
			artist = "vangogh"
		}
		data := read(t, f)
		code, resp := s.upload(data, ingest.Claim{ClaimedArtist: artist,
			Title: filepath.Base(f), ExternalRef: "lot-" + filepath.Base(f), Submitter: "e2e"})
		if code != http.StatusAccepted || resp.SubmissionID == uuid.Nil {
			t.Fatalf("upload %s: status %d, %+v", f, code, resp)
		}
		wants = append(wants, want{resp.SubmissionID, artist, data})
	}

	// Through a raw S3 PUT into the uploads bucket, the artist taken from the key's prefix.
	s3Image := read(t, testenv.ArtImages(t, "monet", 5)[4])
	if err := s.blobs.Put(ctx, "uploads", "monet/partner-sync/0001.jpg", s3Image, "image/jpeg",
		map[string]string{"title": "From partner sync"}); err != nil {
		t.Fatal(err)
	}
	var s3Sub uuid.UUID
	testenv.Eventually(t, time.Minute, "the S3 upload to become a submission", func() bool {
		s.st.Pool.QueryRow(ctx, `SELECT id FROM submissions WHERE source = 's3'`).Scan(&s3Sub)
		return s3Sub != uuid.Nil
	})
	wants = append(wants, want{s3Sub, "monet", s3Image})

	t.Run("OneResultPerImageWithDirectScore", func(t *testing.T) {
		scores := map[string]bool{}
		for _, w := range wants {
			v := s.waitDone(w.id)
			if v.Status != store.StatusClassified || v.Result == nil {
				t.Fatalf("submission %s: status %s, failure %q", w.id, v.Status, v.FailureReason)
			}
			version, score := s.directScore(w.artist, w.data)
			r := v.Result
			if r.ModelArtist != w.artist || r.ModelVersion != version {
				t.Errorf("submission %s scored by %s@%s, want %s@%s", w.id, r.ModelArtist,
					r.ModelVersion, w.artist, version)
			}
			if math.Abs(r.Score-score) > 1e-5 {
				t.Errorf("submission %s: stored score %.7f, direct onnxruntime_go %.7f",
					w.id, r.Score, score)
			}
			if n := s.count(`SELECT count(*) FROM results WHERE submission_id = $1`, w.id); n != 1 {
				t.Errorf("submission %s has %d results", w.id, n)
			}
			scores[fmt.Sprintf("%.6f", r.Score)] = true
			if r.Score <= 0 || r.Score >= 1 {
				t.Errorf("score %v saturated: the comparison with the direct score proves little",
					r.Score)
			}
		}
		if len(scores) < len(wants)-1 {
			t.Errorf("only %d distinct scores over %d images", len(scores), len(wants))
		}
		var arch string
		s.st.Pool.QueryRow(ctx, `SELECT arch FROM models WHERE artist = 'monet'`).Scan(&arch)
		if arch != "resnet101" {
			t.Errorf("monet model arch %q, want resnet101", arch)
		}
	})

	t.Run("MetricsShowBatching", func(t *testing.T) {
		resp, err := http.Get(s.metrics)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{
			`artauth_batch_size_count{device="cpu",model="monet"}`,
			`artauth_batch_queue_delay_seconds_bucket`, `artauth_batch_compute_seconds_bucket`,
			`artauth_model_loads_total{device="cpu",outcome="ok"} 2`,
			`artauth_messages_total{outcome="classified"}`,
		} {
			if !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})

	t.Run("ReuploadSameBytesKeepsOneResult", func(t *testing.T) {
		w := wants[0]
		code, resp := s.upload(w.data, ingest.Claim{ClaimedArtist: "monet", Title: "again"})
		if code != http.StatusOK || resp.SubmissionID != w.id || !resp.Duplicate {
			t.Fatalf("re-upload: status %d, %+v; want 200 with submission %s", code, resp, w.id)
		}
		// The same bytes arriving through the uploads bucket are the same claim too.
		if err := s.blobs.Put(ctx, "uploads", "monet/dupe.jpg", w.data, "image/jpeg",
			nil); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, "the bucket copy to be seen", func() bool {
			return s.count(`SELECT count(*) FROM s3_objects WHERE object_key = 'monet/dupe.jpg'
				AND outcome = 'duplicate_claim'`) == 1
		})
		if n := s.count(`SELECT count(*) FROM results r JOIN submissions s
			ON s.id = r.submission_id JOIN artworks a ON a.id = s.artwork_id
			WHERE a.sha256 = $1`, s.status(w.id).Artwork.SHA256); n != 1 {
			t.Fatalf("%d results for the re-uploaded bytes, want 1", n)
		}
	})

	t.Run("DuplicateNotificationIgnored", func(t *testing.T) {
		info, err := s.blobs.Head(ctx, "uploads", "monet/partner-sync/0001.jpg")
		if err != nil {
			t.Fatal(err)
		}
		note := fmt.Sprintf(`{"Records":[{"eventVersion":"2.2","eventSource":"aws:s3",
			"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},
			"object":{"key":"monet/partner-sync/0001.jpg","size":%d,"eTag":%q,
			"sequencer":"FFFF"}}}]}`, info.Size, info.ETag)
		before := s.count(`SELECT count(*) FROM submissions`)
		s.nc.Publish(s.cfg.S3Subject, []byte(note))
		s.nc.Flush()
		testenv.Eventually(t, 30*time.Second, "the notification to be consumed", func() bool {
			return s.streamEmpty(s.cfg.S3Stream)
		})
		if after := s.count(`SELECT count(*) FROM submissions`); after != before {
			t.Fatalf("submissions went from %d to %d on a duplicate notification", before, after)
		}
		if n := s.count(`SELECT count(*) FROM results WHERE submission_id = $1`, s3Sub); n != 1 {
			t.Fatalf("%d results for the S3 upload", n)
		}
	})

	t.Run("RedeliveredRequestKeepsOneResult", func(t *testing.T) {
		// A request published again past the duplicate window (new message ID) reaches a
		// worker, which must find the result and acknowledge without scoring again.
		w := wants[1]
		v := s.status(w.id)
		req := events.ClassifyRequest{Schema: events.ClassifySchema, SubmissionID: w.id,
			ArtworkID: v.ArtworkID, SHA256: v.Artwork.SHA256, Bucket: v.Artwork.Bucket,
			Key: v.Artwork.ObjectKey, ClaimedArtist: "monet", Source: "api"}
		payload, _ := json.Marshal(req)
		if _, err := s.js.Publish(ctx, s.cfg.ClassifySubject("monet"), payload,
			jetstream.WithMsgID("replay-"+uuid.NewString())); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 30*time.Second, "the replay to be consumed", func() bool {
			return s.streamEmpty(s.cfg.Stream)
		})
		if n := s.count(`SELECT count(*) FROM results WHERE submission_id = $1`, w.id); n != 1 {
			t.Fatalf("%d results after a redelivery, want 1", n)
		}
	})

	t.Run("CorruptImageRecordedAndWorkerGoesOn", func(t *testing.T) {
		good := read(t, testenv.ArtImages(t, "monet", 7)[6])
		corrupt := append([]byte(nil), good[:len(good)/3]...) // valid header, truncated data
		code, bad := s.upload(corrupt, ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted {
			t.Fatalf("corrupt upload: status %d", code)
		}
		v := s.waitDone(bad.SubmissionID)
		if v.Status != store.StatusFailed || len(v.Failures) != 1 ||
			v.Failures[0].Kind != store.FailurePermanent || v.FailureReason == "" {
			t.Fatalf("corrupt image: status %s, failures %+v", v.Status, v.Failures)
		}
		t.Logf("corrupt image recorded: %s", v.FailureReason)
		code, next := s.upload(good, ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted {
			t.Fatalf("upload after corrupt: %d", code)
		}
		if v := s.waitDone(next.SubmissionID); v.Status != store.StatusClassified {
			t.Fatalf("image after the corrupt one: status %s (%s)", v.Status, v.FailureReason)
		}
	})

	t.Run("UnknownArtistRecorded", func(t *testing.T) {
		code, resp := s.upload(read(t, monets[0]), ingest.Claim{ClaimedArtist: "rembrandt"})
		if code != http.StatusAccepted {
			t.Fatalf("status %d", code)
		}
		v := s.waitDone(resp.SubmissionID)
		if v.Status != store.StatusFailed || !strings.Contains(v.FailureReason, "rembrandt") {
			t.Fatalf("status %s reason %q", v.Status, v.FailureReason)
		}
	})

	t.Run("BadUploadsRefusedClearly", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			data   []byte
			artist string
			code   int
			says   string
		}{
			{"NotAnImage", []byte("%PDF-1.4 not an image"), "monet", 415, "format"},
			{"BadArtist", read(t, monets[0]), "Claude Monet!", 400, "claimed_artist"},
			{"Empty", nil, "monet", 400, "missing image"},
		} {
			t.Run(c.name, func(t *testing.T) {
				var body bytes.Buffer
				mw := multipart.NewWriter(&body)
				mw.WriteField("claimed_artist", c.artist)
				if c.data != nil {
					fw, _ := mw.CreateFormFile("image", "x")
					fw.Write(c.data)
				}
				mw.Close()
				resp, err := http.Post(s.ingest+"/v1/artworks", mw.FormDataContentType(), &body)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != c.code || !strings.Contains(string(raw), c.says) {
					t.Fatalf("status %d body %s; want %d mentioning %q", resp.StatusCode, raw,
						c.code, c.says)
				}
			})
		}
	})
}

func (s *stack) streamEmpty(name string) bool {
	ctx := context.Background()
	str, err := s.js.Stream(ctx, name)
	if err != nil {
		return false
	}
	info, err := str.Info(ctx)
	return err == nil && info.State.Msgs == 0
}

// withXMP inserts an XMP packet claiming AI generation (IPTC digital source type) after the
// JPEG's SOI marker.
func withXMP(jpg []byte) []byte {
	packet := `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF ` +
		`xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description ` +
		`xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" ` +
		`Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/` +
		`trainedAlgorithmicMedia"/></rdf:RDF></x:xmpmeta>`
	payload := append([]byte("http://ns.adobe.com/xap/1.0/\x00"), packet...)
	seg := []byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}
	out := append([]byte{}, jpg[:2]...)
	out = append(out, seg...)
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// reencode decodes and re-encodes a JPEG at quality 75: a lightly edited copy.
func reencode(t *testing.T, jpg []byte) []byte {
	img, err := jpeg.Decode(bytes.NewReader(jpg))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	jpeg.Encode(&buf, img, &jpeg.Options{Quality: 75})
	return buf.Bytes()
}

func (s *stack) waitAlertMessage(artwork uuid.UUID, reason string) {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-s.alerts:
			var a events.AlertMessage
			json.Unmarshal(m.Data, &a)
			if a.ArtworkID == artwork && a.Reason == reason {
				return
			}
		case <-deadline:
			s.t.Fatalf("no NATS alert %s for artwork %s", reason, artwork)
		}
	}
}

func hasReason(v store.SubmissionView, code string) bool {
	if v.Verdict == nil {
		return false
	}
	var reasons []struct{ Code string }
	json.Unmarshal(v.Verdict.Reasons, &reasons)
	for _, r := range reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

func TestProvenanceAndAlerts(t *testing.T) {
	s := start(t, testModels(t))
	ai := read(t, testenv.ArtImages(t, "ai_monet_style/stylepix2pix-monet-label_jrtaloma", 1)[0])
	painting := read(t, testenv.ArtImages(t, "monet", 20)[19])

	t.Run("AIClaimInMetadataFlagged", func(t *testing.T) {
		code, resp := s.upload(withXMP(ai), ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d", code)
		}
		v := s.waitDone(resp.SubmissionID)
		if v.Verdict == nil || v.Verdict.Verdict != "suspected_ai_imitation" ||
			!hasReason(v, "metadata_ai_claim") {
			t.Fatalf("verdict %+v", v.Verdict)
		}
		if len(v.Alerts) != 1 || v.Alerts[0].Reason != "metadata_ai_claim" {
			t.Fatalf("alerts %+v", v.Alerts)
		}
		s.waitAlertMessage(v.ArtworkID, "metadata_ai_claim")
		testenv.Eventually(t, 30*time.Second, "the signed webhook", func() bool {
			return s.hooks.has(v.ArtworkID, "metadata_ai_claim")
		})
		if s.hooks.badSig != 0 {
			t.Fatalf("%d deliveries with bad signatures", s.hooks.badSig)
		}
	})

	t.Run("IdenticalAndReencodedCopiesFlagged", func(t *testing.T) {
		code, first := s.upload(painting, ingest.Claim{ClaimedArtist: "monet", Submitter: "a"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d", code)
		}
		s.waitDone(first.SubmissionID)
		code, again := s.upload(painting, ingest.Claim{ClaimedArtist: "monet", Submitter: "b"})
		if code != http.StatusOK || !again.KnownArtwork {
			t.Fatalf("identical copy: %d %+v", code, again)
		}
		s.waitAlertMessage(first.ArtworkID, "known_duplicate")

		code, copyResp := s.upload(reencode(t, painting), ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted || copyResp.ArtworkID == first.ArtworkID {
			t.Fatalf("re-encoded copy: %d %+v", code, copyResp)
		}
		v := s.waitDone(copyResp.SubmissionID)
		if !hasReason(v, "known_duplicate") || v.Verdict.Verdict == "consistent" {
			t.Fatalf("re-encoded copy verdict %+v", v.Verdict)
		}
		s.waitAlertMessage(copyResp.ArtworkID, "known_duplicate")
	})

	t.Run("AttributionOnRequest", func(t *testing.T) {
		img := read(t, testenv.ArtImages(t, "other_artists/vincent_van_gogh", 3)[2])
		code, resp := s.upload(img, ingest.Claim{ClaimedArtist: "monet", Attribute: true})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d", code)
		}
		v := s.waitDone(resp.SubmissionID)
		if len(v.Attributions) != 2 || v.Attributions[0].Rank != 1 ||
			v.Attributions[0].Probability < v.Attributions[1].Probability {
			t.Fatalf("attributions %+v: want monet and vangogh ranked", v.Attributions)
		}
	})
}

// TestShippedDetector serves the shipped Monet model and the shipped AI-image detector
// (models/), and uploads as Monets images from the detector's held-out test split: an AI
// imitation the detector flags when run directly must end as a suspected AI imitation with
// the detector's reason, an alert row, a NATS alert and a signed webhook; a genuine Monet it
// does not flag must not.
func TestShippedDetector(t *testing.T) {
	root := filepath.Join(testenv.Repo(t), "models")
	detDir := filepath.Join(root, "ai-detector", "0.1.0")
	s := start(t, map[string]string{"monet": filepath.Join(root, "monet", "0.1.0"),
		inference.DetectorArtist: detDir})
	split, err := eval.ReadSplit(filepath.Join(detDir, "split.csv"))
	if err != nil {
		t.Fatal(err)
	}
	// pick returns the first held-out image under sub whose direct detector decision is
	// flagged.
	pick := func(sub string, flagged bool) ([]byte, float64) {
		t.Helper()
		for _, f := range testenv.ArtImages(t, sub, 0) {
			data := read(t, f)
			sum := sha256.Sum256(data)
			if split.Parts[hex.EncodeToString(sum[:])] != "test" {
				continue
			}
			if _, score := s.directScore(inference.DetectorArtist, data); (score >
				s.threshold(inference.DetectorArtist)) == flagged {
				return data, score
			}
		}
		t.Fatalf("no held-out image under %s with detector decision flagged=%v", sub, flagged)
		return nil, 0
	}

	t.Run("AIImitationFlaggedByDetector", func(t *testing.T) {
		ai, score := pick("ai_monet_style/cyclegan-resnet_kaggle-exp2_konstantine25b", true)
		code, resp := s.upload(ai, ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d", code)
		}
		v := s.waitDone(resp.SubmissionID)
		if v.Verdict == nil || v.Verdict.Verdict != verdict.SuspectedAI ||
			!hasReason(v, verdict.ReasonAIDetector) || hasReason(v, verdict.ReasonMetadataClaim) {
			t.Fatalf("verdict %+v (direct detector score %.4f)", v.Verdict, score)
		}
		if len(v.Alerts) != 1 || v.Alerts[0].Reason != verdict.ReasonAIDetector {
			t.Fatalf("alerts %+v", v.Alerts)
		}
		s.waitAlertMessage(v.ArtworkID, verdict.ReasonAIDetector)
		testenv.Eventually(t, 30*time.Second, "the signed webhook", func() bool {
			return s.hooks.has(v.ArtworkID, verdict.ReasonAIDetector)
		})
		if s.hooks.badSig != 0 {
			t.Fatalf("%d deliveries with bad signatures", s.hooks.badSig)
		}
	})

	t.Run("GenuineMonetNotFlagged", func(t *testing.T) {
		painting, score := pick("monet", false)
		code, resp := s.upload(painting, ingest.Claim{ClaimedArtist: "monet"})
		if code != http.StatusAccepted {
			t.Fatalf("upload: %d", code)
		}
		v := s.waitDone(resp.SubmissionID)
		if v.Verdict == nil || v.Verdict.Verdict == verdict.SuspectedAI ||
			hasReason(v, verdict.ReasonAIDetector) || hasReason(v, verdict.ReasonNoDetector) ||
			len(v.Alerts) != 0 {
			t.Fatalf("verdict %+v, alerts %+v (direct detector score %.4f)", v.Verdict,
				v.Alerts, score)
		}
	})
}

// threshold is the decision threshold in the served model's metadata.
func (s *stack) threshold(artist string) float64 {
	s.t.Helper()
	meta, _, err := inference.ReadMetadata(s.models[artist])
	if err != nil {
		s.t.Fatal(err)
	}
	return meta.Threshold
}
