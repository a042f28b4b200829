package alerts_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/artauth/artauth/internal/alerts"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
)

type receiver struct {
	mu       sync.Mutex
	fails    int // answer 500 this many times first
	got      []events.AlertMessage
	attempts int
	badSig   int
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if err := alerts.Verify([]byte("s3cret"), req.Header.Get(alerts.HeaderSignature), body,
		time.Now(), time.Minute); err != nil {
		r.badSig++
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.fails > 0 {
		r.fails--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	var m events.AlertMessage
	json.Unmarshal(body, &m)
	if req.Header.Get(alerts.HeaderAlertID) != m.AlertID.String() {
		http.Error(w, "alert id header", http.StatusBadRequest)
		return
	}
	r.got = append(r.got, m)
}

func (r *receiver) snapshot() (int, int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got), r.attempts, r.badSig
}

// artwork makes a real artwork row to hang alerts on.
func artwork(t *testing.T, st *store.Store, i int) store.Artwork {
	art, _, _, err := st.CreateSubmission(context.Background(), store.NewSubmission{
		Artwork: store.Artwork{SHA256: sha(i), SizeBytes: 1, Format: "jpeg", Width: 1,
			Height: 1, Bucket: "b", ObjectKey: "k"},
		Submission: store.Submission{ClaimedArtist: "monet", Source: store.SourceAPI},
		Message: func(store.Artwork, store.Submission) (store.OutboxMessage, error) {
			return store.OutboxMessage{Subject: "x", MsgID: sha(i), Payload: []byte("{}")}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return art
}

func sha(i int) string {
	const hex = "0123456789abcdef"
	b := make([]byte, 64)
	for j := range b {
		b[j] = hex[(i+j)%16]
	}
	return string(b)
}

func TestWebhooks(t *testing.T) {
	st, _ := testenv.Postgres(t)
	_, _, cfg, _ := testenv.NATS(t)
	ctx := context.Background()

	t.Run("SignedRetriedDelivered", func(t *testing.T) {
		rcv := &receiver{fails: 2}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		d, err := alerts.NewDispatcher(alerts.WebhookConfig{URL: srv.URL, Secret: "s3cret",
			BaseDelay: 50 * time.Millisecond, Poll: 20 * time.Millisecond}, st,
			testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		art := artwork(t, st, 1)
		if ok, err := st.RaiseAlert(ctx, store.Alert{ArtworkID: art.ID, Reason: "ai_detector",
			Details: []byte(`{"score":0.97}`)}, alerts.Message(cfg), true); !ok || err != nil {
			t.Fatalf("raise: %v, %v", ok, err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { d.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()
		testenv.Eventually(t, 10*time.Second, "the delivery", func() bool {
			n, _, _ := rcv.snapshot()
			return n == 1
		})
		n, attempts, bad := rcv.snapshot()
		if attempts != 3 || bad != 0 || rcv.got[0].Reason != "ai_detector" ||
			!strings.Contains(string(rcv.got[0].Details), "0.97") {
			t.Fatalf("%d delivered in %d attempts, %d bad signatures, %+v", n, attempts, bad,
				rcv.got)
		}
		var delivered bool
		st.Pool.QueryRow(ctx, `SELECT delivered_at IS NOT NULL FROM webhook_deliveries`).
			Scan(&delivered)
		if !delivered {
			t.Fatal("delivery not recorded")
		}
	})

	t.Run("GivesUpAfterMaxAttempts", func(t *testing.T) {
		rcv := &receiver{fails: 1 << 30}
		srv := httptest.NewServer(rcv)
		defer srv.Close()
		d, _ := alerts.NewDispatcher(alerts.WebhookConfig{URL: srv.URL, Secret: "s3cret",
			MaxAttempts: 3, BaseDelay: 10 * time.Millisecond, Poll: 10 * time.Millisecond}, st,
			testenv.Logger(t))
		art := artwork(t, st, 2)
		st.RaiseAlert(ctx, store.Alert{ArtworkID: art.ID, Reason: "known_duplicate",
			Details: []byte(`{}`)}, alerts.Message(cfg), true)
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { d.Run(runCtx); close(done) }()
		defer func() { cancel(); <-done }()
		testenv.Eventually(t, 10*time.Second, "giving up", func() bool {
			var gaveUp bool
			st.Pool.QueryRow(ctx, `SELECT gave_up_at IS NOT NULL FROM webhook_deliveries w
				JOIN alerts a ON a.id = w.alert_id WHERE a.artwork_id = $1`, art.ID).Scan(&gaveUp)
			return gaveUp
		})
		if _, attempts, _ := rcv.snapshot(); attempts != 3 {
			t.Fatalf("%d attempts, want 3", attempts)
		}
	})

	t.Run("SecretRequired", func(t *testing.T) {
		if _, err := alerts.NewDispatcher(alerts.WebhookConfig{URL: "http://x"}, st,
			testenv.Logger(t)); err == nil {
			t.Fatal("want an error without a secret")
		}
	})
}

func TestVerify(t *testing.T) {
	body := []byte(`{"a":1}`)
	now := time.Now()
	h := alerts.Sign([]byte("k"), now, body)
	if err := alerts.Verify([]byte("k"), h, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		key  string
		body string
		at   time.Time
	}{
		"WrongKey": {"x", `{"a":1}`, now}, "TamperedBody": {"k", `{"a":2}`, now},
		"Stale": {"k", `{"a":1}`, now.Add(time.Hour)},
	} {
		if err := alerts.Verify([]byte(c.key), h, []byte(c.body), c.at, time.Minute); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}
