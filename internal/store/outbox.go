package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// OutboxChannel is the Postgres NOTIFY channel signalled after outbox inserts.
const OutboxChannel = "outbox"

func insertOutbox(ctx context.Context, tx pgx.Tx, m OutboxMessage) error {
	_, err := tx.Exec(ctx, `INSERT INTO outbox (subject, msg_id, payload) VALUES ($1, $2, $3)`,
		m.Subject, m.MsgID, m.Payload)
	if err != nil {
		return fmt.Errorf("insert outbox message %s: %w", m.MsgID, err)
	}
	return nil
}

// EnqueueOutbox adds a message to the outbox outside any other write.
func (s *Store) EnqueueOutbox(ctx context.Context, m OutboxMessage) error {
	return s.inTx(ctx, func(tx pgx.Tx) error { return insertOutbox(ctx, tx, m) })
}

// RelayOutbox takes up to limit unpublished messages, oldest first, and hands each to publish
// in order. Messages published are marked so in the same transaction; the first publish error
// stops the pass, is counted against that message and returned. Rows are locked with SKIP
// LOCKED, so several relays can run at once without publishing a message twice. A crash after
// publish and before commit publishes the message again: consumers must de-duplicate by MsgID.
func (s *Store) RelayOutbox(ctx context.Context, limit int,
	publish func(context.Context, OutboxMessage) error) (int, error) {
	var published int
	var pubErr error
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, subject, msg_id, payload FROM outbox
			WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, limit)
		if err != nil {
			return fmt.Errorf("read outbox: %w", err)
		}
		msgs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (OutboxMessage, error) {
			var m OutboxMessage
			err := r.Scan(&m.ID, &m.Subject, &m.MsgID, &m.Payload)
			return m, err
		})
		if err != nil {
			return fmt.Errorf("scan outbox: %w", err)
		}
		var done []int64
		for _, m := range msgs {
			if pubErr = publish(ctx, m); pubErr != nil {
				_, err := tx.Exec(ctx, `UPDATE outbox SET attempts = attempts + 1,
					last_error = $2 WHERE id = $1`, m.ID, pubErr.Error())
				if err != nil {
					return fmt.Errorf("record outbox error: %w", err)
				}
				break
			}
			done = append(done, m.ID)
		}
		published = len(done)
		_, err = tx.Exec(ctx,
			`UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, done)
		if err != nil {
			return fmt.Errorf("mark outbox published: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	if pubErr != nil {
		return published, fmt.Errorf("publish outbox message: %w", pubErr)
	}
	return published, nil
}

// PendingOutbox counts messages not yet published.
func (s *Store) PendingOutbox(ctx context.Context) (int, error) {
	var n int
	err := s.Pool.QueryRow(ctx,
		`SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count pending outbox: %w", err)
	}
	return n, nil
}
