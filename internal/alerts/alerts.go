// Package alerts announces alerts (suspected AI imitations, known duplicates, AI metadata
// claims): as JetStream messages through the outbox, and as signed HTTP webhooks delivered
// with retries and back-off.
package alerts

import (
	"encoding/json"
	"fmt"

	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/store"
)

// Message returns the outbox builder for alert messages on cfg's alert subjects. The message
// ID is the alert's, so a re-published alert is dropped by the stream.
func Message(cfg events.Config) store.AlertMessage {
	return func(a store.Alert) (store.OutboxMessage, error) {
		b, err := json.Marshal(payload(a))
		if err != nil {
			return store.OutboxMessage{}, fmt.Errorf("encode alert %s: %w", a.ID, err)
		}
		return store.OutboxMessage{Subject: cfg.AlertSubject(a.Reason),
			MsgID: "alert:" + a.ID.String(), Payload: b}, nil
	}
}

func payload(a store.Alert) events.AlertMessage {
	return events.AlertMessage{Schema: events.AlertSchema, AlertID: a.ID, ArtworkID: a.ArtworkID,
		SubmissionID: a.SubmissionID, Reason: a.Reason, Details: a.Details,
		CreatedAt: a.CreatedAt}
}
