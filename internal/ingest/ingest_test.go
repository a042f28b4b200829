package ingest_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/ingest"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
)

type bundle struct {
	st        *store.Store
	nc        *nats.Conn
	js        jetstream.JetStream
	cfg       events.Config
	blobs     *blob.Client
	svc       *ingest.Service
	ingestCfg ingest.Config
}

func setup(t *testing.T, withNotifications bool) bundle {
	st, _ := testenv.Postgres(t)
	nc, js, cfg, natsURL := testenv.NATS(t)
	var s3 testenv.S3Server
	if withNotifications {
		s3 = testenv.S3(t, natsURL, cfg.S3Subject)
	} else {
		s3 = testenv.S3(t, "", "")
	}
	blobs, err := blob.New(context.Background(), s3.BlobConfig())
	if err != nil {
		t.Fatal(err)
	}
	icfg := ingest.Config{Events: cfg, OutboxPoll: 100 * time.Millisecond,
		Limits: imaging.Limits{MaxBytes: 2 << 20, MaxPixels: 40_000_000}}
	svc, err := ingest.New(icfg, st, blobs, js, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Prepare(context.Background()); err != nil {
		t.Fatal(err)
	}
	return bundle{st: st, nc: nc, js: js, cfg: cfg, blobs: blobs, svc: svc, ingestCfg: icfg}
}

func (b bundle) streamMsgs(t *testing.T, name string) uint64 {
	t.Helper()
	s, err := b.js.Stream(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func runInBackground(t *testing.T, fn func(context.Context) error) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { fn(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return cancel
}

func TestOutbox(t *testing.T) {
	b := setup(t, false)
	ctx := context.Background()
	data, _ := os.ReadFile(testenv.ArtImages(t, "monet", 1)[0])

	// No relay runs: this is a process that committed and died before publishing.
	acc, err := b.svc.Submit(ctx, data, ingest.Claim{ClaimedArtist: "monet"}, store.SourceAPI, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := b.st.PendingOutbox(ctx); n != 1 {
		t.Fatalf("%d pending outbox messages, want 1", n)
	}
	if n := b.streamMsgs(t, b.cfg.Stream); n != 0 {
		t.Fatalf("stream has %d messages before any relay ran", n)
	}

	// The process comes back: a new service instance runs the relay.
	restarted, _ := ingest.New(b.ingestCfg, b.st, b.blobs, b.js, testenv.Logger(t))
	runInBackground(t, restarted.RunRelay)

	t.Run("RestartedRelayPublishes", func(t *testing.T) {
		testenv.Eventually(t, 10*time.Second, "the event in the stream", func() bool {
			return b.streamMsgs(t, b.cfg.Stream) == 1
		})
		s, _ := b.js.Stream(ctx, b.cfg.Stream)
		msg, err := s.GetLastMsgForSubject(ctx, b.cfg.ClassifySubject("monet"))
		if err != nil {
			t.Fatal(err)
		}
		req, err := events.DecodeClassifyRequest(msg.Data)
		if err != nil || req.SubmissionID != acc.Submission.ID {
			t.Fatalf("event %+v, %v; want submission %s", req, err, acc.Submission.ID)
		}
		if id := msg.Header.Get(jetstream.MsgIDHeader); id != req.MsgID() {
			t.Fatalf("message ID %q, want %q", id, req.MsgID())
		}
		testenv.Eventually(t, 5*time.Second, "the outbox marked published", func() bool {
			n, _ := b.st.PendingOutbox(ctx)
			return n == 0
		})
	})

	t.Run("RepublishAfterCrashIsDropped", func(t *testing.T) {
		// A crash after publish and before the commit marking it leaves it unpublished.
		b.st.Pool.Exec(ctx, `UPDATE outbox SET published_at = NULL`)
		testenv.Eventually(t, 10*time.Second, "the relay to publish again", func() bool {
			n, _ := b.st.PendingOutbox(ctx)
			return n == 0
		})
		if n := b.streamMsgs(t, b.cfg.Stream); n != 1 {
			t.Fatalf("stream has %d messages after a re-publish, want 1", n)
		}
	})
}

func TestHTTP(t *testing.T) {
	b := setup(t, false)
	srv := httptest.NewServer(b.svc.Handler())
	defer srv.Close()
	monet := testenv.ArtImages(t, "monet", 1)[0]
	data, _ := os.ReadFile(monet)

	post := func(fields map[string]string, image []byte) (*http.Response, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for k, v := range fields {
			mw.WriteField(k, v)
		}
		if image != nil {
			fw, _ := mw.CreateFormFile("image", "a.jpg")
			fw.Write(image)
		}
		mw.Close()
		resp, err := http.Post(srv.URL+"/v1/artworks", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		out.ReadFrom(resp.Body)
		resp.Body.Close()
		return resp, out.String()
	}

	t.Run("FormFieldsAccepted", func(t *testing.T) {
		resp, body := post(map[string]string{"claimed_artist": " Monet ", "title": "Nymphéas",
			"provenance_notes": "bought 1921, Paris"}, data)
		if resp.StatusCode != http.StatusAccepted || !strings.Contains(body, `"status":"queued"`) ||
			!strings.Contains(body, "/v1/submissions/") {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		var title, notes, artist string
		b.st.Pool.QueryRow(context.Background(), `SELECT claimed_artist, title, provenance_notes
			FROM submissions`).Scan(&artist, &title, &notes)
		if artist != "monet" || title != "Nymphéas" || notes != "bought 1921, Paris" {
			t.Fatalf("stored %q %q %q", artist, title, notes)
		}
	})

	t.Run("OversizeRefused", func(t *testing.T) {
		big := append(append([]byte(nil), data...), make([]byte, 3<<20)...)
		resp, body := post(map[string]string{"claimed_artist": "monet"}, big)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
	})

	t.Run("NotMultipart", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/v1/artworks", "image/jpeg", bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})

	t.Run("StatusOfUnknownAndBadID", func(t *testing.T) {
		for path, want := range map[string]int{
			"/v1/submissions/8c1f1bb4-7bd6-4b9e-9a53-6a0b8c2b1d11": 404,
			"/v1/submissions/nope":                                 400,
		} {
			resp, _ := http.Get(srv.URL + path)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s: %d, want %d", path, resp.StatusCode, want)
			}
		}
	})

	t.Run("PresignedUploadWorks", func(t *testing.T) {
		resp, err := http.Post(srv.URL+"/v1/uploads", "application/json",
			strings.NewReader(`{"claimed_artist":"monet","title":"Haystacks","filename":"h s.jpg"}`))
		if err != nil {
			t.Fatal(err)
		}
		var up ingest.UploadResponse
		decodeJSON(t, resp, &up)
		if !strings.HasPrefix(up.Key, "monet/") || !strings.HasSuffix(up.Key, "-hs.jpg") {
			t.Fatalf("key %q", up.Key)
		}
		req, _ := http.NewRequest(up.Method, up.URL, bytes.NewReader(data))
		for k, v := range up.Headers {
			req.Header.Set(k, v)
		}
		put, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		put.Body.Close()
		if put.StatusCode != http.StatusOK {
			t.Fatalf("presigned PUT: %s", put.Status)
		}
		info, err := b.blobs.Head(context.Background(), up.Bucket, up.Key)
		if err != nil || info.Metadata[ingest.MetaClaimedArtist] != "monet" ||
			info.Metadata[ingest.MetaTitle] != "Haystacks" {
			t.Fatalf("uploaded object %+v, %v", info, err)
		}
	})
}

func TestNotifications(t *testing.T) {
	b := setup(t, true)
	ctx := context.Background()
	runInBackground(t, b.svc.RunNotifications)
	images := testenv.ArtImages(t, "monet", 4)
	read := func(i int) []byte { d, _ := os.ReadFile(images[i]); return d }

	count := func(q string, args ...any) int {
		var n int
		b.st.Pool.QueryRow(ctx, q, args...).Scan(&n)
		return n
	}

	t.Run("MetadataClaimAndSpacesInKey", func(t *testing.T) {
		err := b.blobs.Put(ctx, "uploads", "partner/lot 17 (front).jpg", read(0), "image/jpeg",
			map[string]string{ingest.MetaClaimedArtist: "monet", ingest.MetaExternalRef: "lot-17"})
		if err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "a submission from the bucket", func() bool {
			return count(`SELECT count(*) FROM submissions WHERE source = 's3'
				AND external_ref = 'lot-17' AND claimed_artist = 'monet'`) == 1
		})
	})

	t.Run("NoArtistRejectedWithReason", func(t *testing.T) {
		if err := b.blobs.Put(ctx, "uploads", "loose.jpg", read(1), "", nil); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "the rejection recorded", func() bool {
			return count(`SELECT count(*) FROM s3_objects WHERE object_key = 'loose.jpg'
				AND outcome = 'bad_claim'`) == 1 &&
				count(`SELECT count(*) FROM failures WHERE stage = 's3_notification'
				AND reason LIKE '%loose.jpg%claimed_artist%'`) == 1
		})
	})

	t.Run("NotAnImageRejected", func(t *testing.T) {
		if err := b.blobs.Put(ctx, "uploads", "monet/notes.txt", []byte("provenance: none"),
			"text/plain", nil); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "the rejection recorded", func() bool {
			return count(`SELECT count(*) FROM s3_objects WHERE object_key = 'monet/notes.txt'
				AND outcome = 'bad_image'`) == 1
		})
	})

	t.Run("OtherBucketsIgnored", func(t *testing.T) {
		before := count(`SELECT count(*) FROM s3_objects`)
		// Ingest's own content-addressed writes land in the artworks bucket and notify too.
		if err := b.blobs.Put(ctx, "artworks", "monet/x.jpg", read(2), "", nil); err != nil {
			t.Fatal(err)
		}
		if err := b.blobs.Put(ctx, "uploads", "monet/after.jpg", read(3), "", nil); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, 20*time.Second, "the later upload", func() bool {
			return count(`SELECT count(*) FROM s3_objects WHERE object_key = 'monet/after.jpg'`) == 1
		})
		if n := count(`SELECT count(*) FROM s3_objects`) - before; n != 1 {
			t.Fatalf("%d objects recorded, want only the uploads one", n)
		}
	})

	t.Run("GarbageNotificationRecorded", func(t *testing.T) {
		b.nc.Publish(b.cfg.S3Subject, []byte("{not json"))
		b.nc.Flush()
		testenv.Eventually(t, 20*time.Second, "the failure row", func() bool {
			return count(`SELECT count(*) FROM failures WHERE stage = 's3_notification'
				AND kind = 'permanent' AND payload = '{not json'`) == 1
		})
	})
}
