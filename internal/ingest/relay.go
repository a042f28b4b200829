package ingest

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/store"
)

// RunRelay publishes outbox messages to JetStream until ctx is cancelled. It wakes on the
// outbox's Postgres notification and polls as a fallback, so an event written before a crash
// is published when any ingest process runs again. Each message carries its ID in
// Nats-Msg-Id, so a re-publish after a crash between publish and commit is dropped by the
// stream's duplicate window (and, past it, by the one-result-per-submission rule).
func (s *Service) RunRelay(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go s.listenOutbox(ctx, wake)
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		n, err := s.st.RelayOutbox(ctx, 256, s.publish)
		switch {
		case err != nil && ctx.Err() == nil:
			backoff = min(max(2*backoff, 100*time.Millisecond), 10*time.Second)
			s.log.Warn().Err(err).Int("published", n).Dur("retry_in", backoff).
				Msg("outbox relay pass failed")
		case n > 0:
			backoff = 0
			s.log.Debug().Int("published", n).Msg("outbox relayed")
			continue // there may be more
		default:
			backoff = 0
		}
		wait := s.cfg.OutboxPoll
		if backoff > 0 {
			wait = backoff
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

func (s *Service) publish(ctx context.Context, m store.OutboxMessage) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Data: m.Payload},
		jetstream.WithMsgID(m.MsgID))
	return err
}

// listenOutbox forwards Postgres notifications on the outbox channel to wake, reconnecting
// after errors. A lost notification only delays publishing until the next poll.
func (s *Service) listenOutbox(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := s.st.Pool.Acquire(ctx)
		if err != nil {
			sleepCtx(ctx, time.Second)
			continue
		}
		_, err = conn.Exec(ctx, "LISTEN "+store.OutboxChannel)
		for err == nil {
			_, err = conn.Conn().WaitForNotification(ctx)
			if err == nil {
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		// The connection's state is unknown after an error; close it rather than reuse it.
		conn.Hijack().Close(context.Background())
		if ctx.Err() == nil {
			s.log.Debug().Err(err).Msg("outbox listener reconnecting")
			sleepCtx(ctx, time.Second)
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
