package events

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Setup creates or updates the streams and durable consumers. It is idempotent: every process
// calls it at start-up, and a second call with the same config changes nothing.
func Setup(ctx context.Context, js jetstream.JetStream, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.Stream,
		Description: "classification requests, one message per submission",
		Subjects:    []string{c.ClassifySubject(">")},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
		Duplicates:  c.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", c.Stream, err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.S3Stream,
		Description: "S3 bucket notifications (standard S3 event JSON)",
		Subjects:    []string{c.S3Subject},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		MaxAge:      c.MaxAge,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", c.S3Stream, err)
	}
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        c.AlertStream,
		Description: "alerts: suspected AI imitations, known duplicates, AI metadata claims",
		Subjects:    []string{c.AlertSubject(">")},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    c.Replicas,
		MaxAge:      c.AlertMaxAge,
		Duplicates:  c.DuplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w", c.AlertStream, err)
	}
	for _, cc := range []struct{ stream, name, filter, desc string }{
		{c.Stream, c.Consumer, c.ClassifySubject(">"), "classifier workers"},
		{c.S3Stream, c.S3Consumer, c.S3Subject, "ingest: bucket notifications"},
	} {
		_, err := js.CreateOrUpdateConsumer(ctx, cc.stream, jetstream.ConsumerConfig{
			Durable:       cc.name,
			Description:   cc.desc,
			FilterSubject: cc.filter,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       c.AckWait,
			MaxDeliver:    c.MaxDeliver,
			DeliverPolicy: jetstream.DeliverAllPolicy,
			MaxAckPending: 1024,
		})
		if err != nil {
			return fmt.Errorf("create consumer %s on %s: %w", cc.name, cc.stream, err)
		}
	}
	return nil
}
