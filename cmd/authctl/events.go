package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/events"
)

func eventsCmd(args []string) error {
	if len(args) == 0 || (args[0] != "setup" && args[0] != "delete") {
		return fmt.Errorf("events: want setup or delete")
	}
	var common config.Common
	fs := config.New("authctl events " + args[0])
	fs.AddCommon(&common)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	nc, js, err := common.ConnectNATS("authctl")
	if err != nil {
		return err
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if args[0] == "setup" {
		return events.Setup(ctx, js, common.Events)
	}
	// Deleting drops every message still queued: for demos, tests and decommissioning.
	for _, name := range []string{common.Events.Stream, common.Events.S3Stream} {
		if err := js.DeleteStream(ctx, name); err != nil &&
			!errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("delete stream %s: %w", name, err)
		}
		fmt.Println("deleted stream", name)
	}
	return nil
}
