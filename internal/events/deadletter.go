package events

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetter is a message that exhausted its deliveries without any consumer settling it: a
// worker died (or hung past the ack wait) on every delivery.
type DeadLetter struct {
	Stream     string
	Consumer   string
	StreamSeq  uint64
	Deliveries int
	Subject    string
	Data       []byte
}

type maxDeliveriesAdvisory struct {
	Stream     string `json:"stream"`
	Consumer   string `json:"consumer"`
	StreamSeq  uint64 `json:"stream_seq"`
	Deliveries int    `json:"deliveries"`
}

// WatchDeadLetters listens for JetStream's max-deliveries advisories of one consumer and
// hands each abandoned message to handle; once handle returns nil the message is deleted from
// the stream (a work-queue stream would otherwise keep it forever). Subscribers share a queue
// group, so one process of many handles each advisory. Advisories are not persisted: one sent
// while no watcher runs is lost, and its message stays in the stream for an operator to find.
// The subscription ends when ctx is cancelled.
func WatchDeadLetters(ctx context.Context, nc *nats.Conn, js jetstream.JetStream,
	stream, consumer string, handle func(context.Context, DeadLetter) error) error {
	subject := fmt.Sprintf("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.%s.%s", stream, consumer)
	sub, err := nc.QueueSubscribe(subject, "deadletters-"+consumer, func(m *nats.Msg) {
		var adv maxDeliveriesAdvisory
		if err := json.Unmarshal(m.Data, &adv); err != nil || adv.StreamSeq == 0 {
			return
		}
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return
		}
		raw, err := s.GetMsg(ctx, adv.StreamSeq)
		if err != nil {
			return // settled or deleted meanwhile
		}
		dl := DeadLetter{Stream: stream, Consumer: consumer, StreamSeq: adv.StreamSeq,
			Deliveries: adv.Deliveries, Subject: raw.Subject, Data: raw.Data}
		if err := handle(ctx, dl); err != nil {
			return
		}
		s.DeleteMsg(ctx, adv.StreamSeq)
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", subject, err)
	}
	go func() {
		<-ctx.Done()
		sub.Unsubscribe()
	}()
	return nil
}
