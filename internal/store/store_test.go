package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
)

func sha(n int) string { return fmt.Sprintf("%064x", n) }

func newSubmission(shaN int, artist string, obj *store.S3Object) store.NewSubmission {
	return store.NewSubmission{
		Artwork: store.Artwork{SHA256: sha(shaN), SizeBytes: 10, Format: "jpeg", Width: 2,
			Height: 2, Bucket: "artworks", ObjectKey: "k" + sha(shaN)},
		Submission: store.Submission{ClaimedArtist: artist, Source: store.SourceAPI},
		Object:     obj,
		Message: func(a store.Artwork, s store.Submission) (store.OutboxMessage, error) {
			return store.OutboxMessage{Subject: "x." + s.ClaimedArtist, MsgID: s.ID.String(),
				Payload: []byte(a.SHA256)}, nil
		},
	}
}

func TestMigrate(t *testing.T) {
	st, _ := testenv.Postgres(t)
	ctx := context.Background()

	v, err := st.Migrate(ctx, 0)
	if err != nil || v != 0 {
		t.Fatalf("migrate down to 0: version %d, %v", v, err)
	}
	var n int
	st.Pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables
		WHERE table_name IN ('artworks','submissions','results','outbox')`).Scan(&n)
	if n != 0 {
		t.Fatalf("after down, %d of the tables remain", n)
	}
	if v, err = st.Migrate(ctx, -1); err != nil || v < 1 {
		t.Fatalf("migrate up again: version %d, %v", v, err)
	}
	if v2, err := st.Migrate(ctx, -1); err != nil || v2 != v {
		t.Fatalf("second migrate up: version %d (want %d), %v", v2, v, err)
	}
}

func TestCreateSubmission(t *testing.T) {
	st, _ := testenv.Postgres(t)
	ctx := context.Background()

	t.Run("SameBytesSameArtistIsOneSubmission", func(t *testing.T) {
		a1, s1, created, err := st.CreateSubmission(ctx, newSubmission(1, "monet", nil))
		if err != nil || !created {
			t.Fatalf("first: created=%v err=%v", created, err)
		}
		a2, s2, created, err := st.CreateSubmission(ctx, newSubmission(1, "monet", nil))
		if err != nil || created {
			t.Fatalf("second: created=%v err=%v", created, err)
		}
		if a1.Existed || !a2.Existed {
			t.Fatalf("Existed: first %v, second %v; want false then true", a1.Existed, a2.Existed)
		}
		if s1.ID != s2.ID || a1.ID != a2.ID {
			t.Fatalf("second call gave submission %s artwork %s, want %s %s",
				s2.ID, a2.ID, s1.ID, a1.ID)
		}
		if n := count(t, st, `SELECT count(*) FROM outbox WHERE msg_id = $1`, s1.ID.String()); n != 1 {
			t.Fatalf("outbox has %d messages for the submission, want 1", n)
		}
	})

	t.Run("SameBytesOtherArtistIsNewSubmissionSameArtwork", func(t *testing.T) {
		a1, s1, _, _ := st.CreateSubmission(ctx, newSubmission(2, "monet", nil))
		a2, s2, created, err := st.CreateSubmission(ctx, newSubmission(2, "vangogh", nil))
		if err != nil || !created || s1.ID == s2.ID || a1.ID != a2.ID {
			t.Fatalf("created=%v err=%v sub %s vs %s artwork %s vs %s",
				created, err, s1.ID, s2.ID, a1.ID, a2.ID)
		}
	})

	t.Run("ObjectVersionOnce", func(t *testing.T) {
		obj := &store.S3Object{Bucket: "uploads", Key: "monet/a.jpg", Version: "etag:1"}
		_, s1, created, err := st.CreateSubmission(ctx, newSubmission(3, "monet", obj))
		if err != nil || !created {
			t.Fatalf("first: created=%v err=%v", created, err)
		}
		_, _, _, err = st.CreateSubmission(ctx, newSubmission(3, "monet", obj))
		if !errors.Is(err, store.ErrDuplicateObject) {
			t.Fatalf("second: err %v, want ErrDuplicateObject", err)
		}
		seen, err := st.ObjectSeen(ctx, *obj)
		if err != nil || !seen {
			t.Fatalf("ObjectSeen = %v, %v", seen, err)
		}
		// A new version of the same bytes is a repeat of the claim, not a new submission.
		obj2 := *obj
		obj2.Version = "etag:2"
		_, s2, created, err := st.CreateSubmission(ctx, newSubmission(3, "monet", &obj2))
		if err != nil || created || s2.ID != s1.ID {
			t.Fatalf("new version: created=%v err=%v id %s want %s", created, err, s2.ID, s1.ID)
		}
	})

	t.Run("FailedMessageBuilderLeavesNothing", func(t *testing.T) {
		ns := newSubmission(4, "monet", nil)
		ns.Message = func(store.Artwork, store.Submission) (store.OutboxMessage, error) {
			return store.OutboxMessage{}, errors.New("boom")
		}
		if _, _, _, err := st.CreateSubmission(ctx, ns); err == nil {
			t.Fatal("want the builder's error")
		}
		if n := count(t, st, `SELECT count(*) FROM artworks WHERE sha256 = $1`, sha(4)); n != 0 {
			t.Fatalf("artwork row left behind after rollback: %d", n)
		}
	})
}

func TestSaveOutcomes(t *testing.T) {
	st, _ := testenv.Postgres(t)
	ctx := context.Background()
	_, sub, _, err := st.CreateSubmission(ctx, newSubmission(10, "monet", nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.RegisterModel(ctx, store.Model{Artist: "monet", Version: "1", SHA256: sha(99),
		Arch: "tiny", Threshold: 0.5, Location: "file:///m", Metadata: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	res := store.Result{SubmissionID: sub.ID, ArtworkSHA256: sha(10), ModelArtist: "monet",
		ModelVersion: "1", ModelSHA256: sha(99), Logit: 1, Score: 0.73, Threshold: 0.5,
		Decision: store.DecisionArtist, LatencyMS: 3, BatchSize: 1, Device: "cpu", Worker: "w"}

	alert := store.Alert{ArtworkID: sub.ArtworkID, Reason: "ai_detector",
		Details: []byte(`{}`)}
	msg := func(a store.Alert) (store.OutboxMessage, error) {
		return store.OutboxMessage{Subject: "alerts", MsgID: a.ID.String(), Payload: []byte("a")},
			nil
	}
	out := store.Outcome{Result: res, Alerts: []store.Alert{alert},
		Verdict: &store.Verdict{Verdict: "suspected_ai_imitation", Reasons: []byte(`[]`),
			Scores: []byte(`{}`), Policy: []byte(`{}`)},
		Attributions: []store.Attribution{{Rank: 1, Artist: "monet", ModelVersion: "1",
			Probability: 0.7, Share: 1}}}
	raised, err := st.SaveOutcomes(ctx, []store.Outcome{out}, msg, true)
	if err != nil || len(raised) != 1 {
		t.Fatalf("first save: %d alerts raised, %v", len(raised), err)
	}
	// A redelivery saves nothing new: not the result, not the verdict, not the alert.
	out.Result.Score = 0.1
	raised, err = st.SaveOutcomes(ctx, []store.Outcome{out}, msg, true)
	if err != nil || len(raised) != 0 {
		t.Fatalf("second save: %d alerts raised, %v; want none", len(raised), err)
	}
	if n := count(t, st, `SELECT count(*) FROM webhook_deliveries`); n != 1 {
		t.Fatalf("%d webhook deliveries queued, want 1", n)
	}
	// The same artwork and reason from another submission does not alert twice.
	if ok, err := st.RaiseAlert(ctx, alert, msg, true); err != nil || ok {
		t.Fatalf("second alert for the same artwork and reason: raised=%v, %v", ok, err)
	}
	v, err := st.GetSubmission(ctx, sub.ID)
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != store.StatusClassified || v.Result == nil || v.Result.Score != 0.73 ||
		v.Verdict == nil || len(v.Attributions) != 1 || len(v.Alerts) != 1 {
		t.Fatalf("submission after saves: status %s result %+v verdict %+v, %d attributions, "+
			"%d alerts", v.Status, v.Result, v.Verdict, len(v.Attributions), len(v.Alerts))
	}

	t.Run("ModelVersionsAreImmutable", func(t *testing.T) {
		_, err := st.RegisterModel(ctx, store.Model{Artist: "monet", Version: "1", SHA256: sha(98),
			Arch: "tiny", Threshold: 0.5, Location: "x", Metadata: []byte(`{}`)})
		if !errors.Is(err, store.ErrModelConflict) {
			t.Fatalf("err %v, want ErrModelConflict", err)
		}
	})

	t.Run("FailureAfterClassificationKeepsStatus", func(t *testing.T) {
		id := sub.ID
		err := st.RecordFailure(ctx, store.Failure{SubmissionID: &id, Stage: "classify",
			Kind: store.FailurePermanent, Reason: "late", Stream: "S", StreamSeq: 7})
		if err != nil {
			t.Fatal(err)
		}
		// The same stream message recorded twice keeps one row.
		err = st.RecordFailure(ctx, store.Failure{SubmissionID: &id, Stage: "classify",
			Kind: store.FailurePermanent, Reason: "late", Stream: "S", StreamSeq: 7})
		if err != nil {
			t.Fatal(err)
		}
		v, _ := st.GetSubmission(ctx, sub.ID)
		if v.Status != store.StatusClassified || len(v.Failures) != 1 {
			t.Fatalf("status %s with %d failures, want classified with 1", v.Status,
				len(v.Failures))
		}
	})

	_, err = st.GetSubmission(ctx, uuid.New())
	if !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown submission: %v, want ErrNotFound", err)
	}
}

func TestRelayOutbox(t *testing.T) {
	st, _ := testenv.Postgres(t)
	ctx := context.Background()
	for i := 0; i < 5; i++ {
		st.EnqueueOutbox(ctx, store.OutboxMessage{Subject: "s", MsgID: fmt.Sprint(i),
			Payload: []byte{byte(i)}})
	}
	var got []string
	failAt := "2"
	publish := func(_ context.Context, m store.OutboxMessage) error {
		if m.MsgID == failAt {
			return errors.New("nats down")
		}
		got = append(got, m.MsgID)
		return nil
	}
	n, err := st.RelayOutbox(ctx, 100, publish)
	if err == nil || n != 2 || strings.Join(got, ",") != "0,1" {
		t.Fatalf("first pass: %d published (%v), err %v; want 0,1 then the error", n, got, err)
	}
	failAt = ""
	n, err = st.RelayOutbox(ctx, 100, publish)
	if err != nil || n != 3 || strings.Join(got, ",") != "0,1,2,3,4" {
		t.Fatalf("second pass: %d published, order %v, err %v", n, got, err)
	}
	if p, _ := st.PendingOutbox(ctx); p != 0 {
		t.Fatalf("%d messages still pending", p)
	}
	var attempts int
	st.Pool.QueryRow(ctx, `SELECT attempts FROM outbox WHERE msg_id = '2'`).Scan(&attempts)
	if attempts != 1 {
		t.Fatalf("failed message has %d attempts recorded, want 1", attempts)
	}
}

func count(t *testing.T, st *store.Store, q string, args ...any) int {
	t.Helper()
	var n int
	if err := st.Pool.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestModelRegistry(t *testing.T) {
	st, _ := testenv.Postgres(t)
	ctx := context.Background()
	reg := func(v string, n int) {
		t.Helper()
		m, err := st.RegisterModel(ctx, store.Model{Artist: "monet", Version: v, SHA256: sha(n),
			Arch: "resnet101", Threshold: 0.5, Location: "s3://models/monet/" + v,
			Metadata: []byte(`{}`)})
		if err != nil || m.State != store.ModelStaged {
			t.Fatalf("register %s: state %q, %v", v, m.State, err)
		}
	}
	reg("1.0.0", 1)
	reg("1.1.0", 2)
	reg("1.1.0", 2) // idempotent

	if _, err := st.ActivateModel(ctx, "monet", "9.9.9"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("activate unknown: %v", err)
	}
	if prev, err := st.ActivateModel(ctx, "monet", "1.0.0"); err != nil || prev != nil {
		t.Fatalf("first activation: prev %v, %v", prev, err)
	}
	prev, err := st.ActivateModel(ctx, "monet", "1.1.0")
	if err != nil || prev == nil || prev.Version != "1.0.0" {
		t.Fatalf("second activation: prev %+v, %v", prev, err)
	}
	active, _ := st.ActiveModels(ctx)
	if len(active) != 1 || active[0].Version != "1.1.0" {
		t.Fatalf("active %+v", active)
	}
	p, err := st.PreviousModel(ctx, "monet")
	if err != nil || p.Version != "1.0.0" || p.State != store.ModelRetired {
		t.Fatalf("previous %+v, %v", p, err)
	}
	if err := st.AddEvaluation(ctx, "monet", "1.1.0", "dev-test-split",
		[]byte(`{"accuracy":0.9}`)); err != nil {
		t.Fatal(err)
	}
	if all, _ := st.ListModels(ctx, "monet"); len(all) != 2 {
		t.Fatalf("list: %d versions", len(all))
	}
}
