package events_test

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/testenv"
)

func TestParseS3Notification(t *testing.T) {
	cases := []struct {
		name string
		body string
		want []events.ObjectCreated
	}{
		{"Versitygw", `{"Records":[{"eventVersion":"2.2","eventSource":"aws:s3",
			"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},
			"object":{"key":"monet/a b.jpg","size":12,"eTag":"\"abc\"","versionId":null,
			"sequencer":"01"}}}]}`,
			[]events.ObjectCreated{{EventName: "ObjectCreated:Put", Bucket: "uploads",
				Key: "monet/a b.jpg", Size: 12, ETag: `"abc"`, Sequencer: "01"}}},
		{"AWS", `{"Records":[{"eventName":"ObjectCreated:CompleteMultipartUpload",
			"s3":{"bucket":{"name":"up"},"object":{"key":"monet/a+b%2B.jpg","size":5,
			"eTag":"e","versionId":"v1","sequencer":"02"}}}]}`,
			[]events.ObjectCreated{{EventName: "ObjectCreated:CompleteMultipartUpload",
				Bucket: "up", Key: "monet/a+b%2B.jpg", Size: 5, ETag: "e", VersionID: "v1",
				Sequencer: "02"}}},
		{"MinIO", `{"EventName":"s3:ObjectCreated:Put","Key":"up/monet/x.jpg","Records":[
			{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":"up"},"object":{
			"key":"monet%2Fx.jpg","size":3,"eTag":"m","contentType":"image/jpeg",
			"userMetadata":{"X-Amz-Meta-Claimed-Artist":"monet"},"sequencer":"03"}}}]}`,
			[]events.ObjectCreated{{EventName: "ObjectCreated:Put", Bucket: "up",
				Key: "monet%2Fx.jpg", Size: 3, ETag: "m", Sequencer: "03",
				ContentType:  "image/jpeg",
				UserMetadata: map[string]string{"X-Amz-Meta-Claimed-Artist": "monet"}}}},
		{"SNSEnvelope", `{"Type":"Notification","Message":"{\"Records\":[{\"eventName\":` +
			`\"ObjectCreated:Put\",\"s3\":{\"bucket\":{\"name\":\"b\"},\"object\":{\"key\":` +
			`\"k\",\"eTag\":\"t\"}}}]}"}`,
			[]events.ObjectCreated{{EventName: "ObjectCreated:Put", Bucket: "b", Key: "k",
				ETag: "t"}}},
		{"EventBridge", `{"detail-type":"Object Created","detail":{"bucket":{"name":"b"},
			"object":{"key":"monet/k.jpg","size":9,"etag":"t","version-id":"v",
			"sequencer":"s"}}}`,
			[]events.ObjectCreated{{EventName: "ObjectCreated", Bucket: "b",
				Key: "monet/k.jpg", Size: 9, ETag: "t", VersionID: "v", Sequencer: "s"}}},
		{"TestEventIgnored", `{"Service":"S3","Event":"s3:TestEvent","Bucket":"x"}`, nil},
		{"RemovalIgnored", `{"Records":[{"eventName":"s3:ObjectRemoved:Delete","s3":{
			"bucket":{"name":"b"},"object":{"key":"k"}}}]}`, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := events.ParseS3Notification([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
		})
	}

	t.Run("KeyCandidatesAndVersion", func(t *testing.T) {
		o := events.ObjectCreated{Key: "monet/a+b%2B.jpg", ETag: `"e1"`}
		if got := o.KeyCandidates(); !reflect.DeepEqual(got,
			[]string{"monet/a b+.jpg", "monet/a+b%2B.jpg"}) {
			t.Fatalf("candidates %q", got)
		}
		if o.Version() != "etag:e1" {
			t.Fatalf("version %q", o.Version())
		}
		o.VersionID = "v9"
		if o.Version() != "v:v9" {
			t.Fatalf("version %q", o.Version())
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		for _, body := range []string{`not json`, `{"Records":[{"eventName":
			"ObjectCreated:Put","s3":{"bucket":{"name":""},"object":{"key":"k"}}}]}`} {
			if _, err := events.ParseS3Notification([]byte(body)); err == nil {
				t.Errorf("%q: want an error", body)
			}
		}
	})
}

func TestClassifyRequest(t *testing.T) {
	good := events.ClassifyRequest{Schema: events.ClassifySchema, SubmissionID: uuid.New(),
		SHA256: strings.Repeat("a", 64), Bucket: "b", Key: "k", ClaimedArtist: "monet"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*events.ClassifyRequest){
		"UnknownSchema": func(r *events.ClassifyRequest) { r.Schema = "artauth.classify.v9" },
		"NoSubmission":  func(r *events.ClassifyRequest) { r.SubmissionID = uuid.Nil },
		"BadHash":       func(r *events.ClassifyRequest) { r.SHA256 = "xyz" },
		"BadArtist":     func(r *events.ClassifyRequest) { r.ClaimedArtist = "Monet!" },
	} {
		t.Run(name, func(t *testing.T) {
			r := good
			mutate(&r)
			if err := r.Validate(); err == nil {
				t.Fatal("want an error")
			}
		})
	}
}

func TestSetup(t *testing.T) {
	nc, js, cfg, _ := testenv.NATS(t)
	ctx := context.Background()

	t.Run("Idempotent", func(t *testing.T) {
		if err := events.Setup(ctx, js, cfg); err != nil {
			t.Fatalf("second setup: %v", err)
		}
		s, err := js.Stream(ctx, cfg.Stream)
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Retention != jetstream.WorkQueuePolicy ||
			info.Config.Duplicates != cfg.DuplicateWindow {
			t.Fatalf("stream config %+v", info.Config)
		}
		c, err := js.Consumer(ctx, cfg.Stream, cfg.Consumer)
		if err != nil {
			t.Fatal(err)
		}
		cc := c.CachedInfo().Config
		if cc.AckPolicy != jetstream.AckExplicitPolicy || cc.MaxDeliver != cfg.MaxDeliver {
			t.Fatalf("consumer config %+v", cc)
		}
	})

	t.Run("DuplicateMsgIDDropped", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: cfg.ClassifySubject("monet"),
				Data: []byte("{}")}, jetstream.WithMsgID("classify:same"))
			if err != nil {
				t.Fatal(err)
			}
			if (i == 1) != ack.Duplicate {
				t.Fatalf("publish %d: duplicate=%v", i, ack.Duplicate)
			}
		}
	})

	t.Run("S3SubjectCaptured", func(t *testing.T) {
		// Bucket notifications are plain NATS publishes; the stream must keep them.
		if err := nc.Publish(cfg.S3Subject, []byte(`{"Records":[]}`)); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		testenv.Eventually(t, 5*time.Second, "notification stored", func() bool {
			s, err := js.Stream(ctx, cfg.S3Stream)
			if err != nil {
				return false
			}
			info, err := s.Info(ctx)
			return err == nil && info.State.Msgs == 1
		})
	})

	t.Run("InvalidConfigRefused", func(t *testing.T) {
		bad := cfg
		bad.Stream = "has space"
		bad.MaxDeliver = 0
		err := events.Setup(ctx, js, bad)
		if err == nil || !strings.Contains(err.Error(), "has space") ||
			!strings.Contains(err.Error(), "max deliver") {
			t.Fatalf("err %v: want both problems named", err)
		}
	})
}
