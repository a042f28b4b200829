// Command ingest runs the upload API, the S3 bucket-notification consumer and the outbox relay
// that publishes classification requests to JetStream.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/artauth/artauth/internal/alerts"
	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/ingest"
	"github.com/artauth/artauth/internal/store"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var (
		common   config.Common
		cfg      ingest.Config
		addr     string
		migrate  bool
		maxConns int
		hook     alerts.WebhookConfig
	)
	lim := imaging.DefaultLimits()
	fs := config.New("ingest")
	fs.AddCommon(&common)
	fs.String(&addr, "http-addr", "HTTP_ADDR", "127.0.0.1:8080", "HTTP listen address")
	fs.String(&cfg.PublicURL, "public-url", "PUBLIC_URL", "", "prefix of status URLs in responses")
	fs.String(&cfg.ArtworksBucket, "artworks-bucket", "ARTWORKS_BUCKET", "artworks",
		"bucket of original images, keyed by SHA-256")
	fs.String(&cfg.UploadsBucket, "uploads-bucket", "UPLOADS_BUCKET", "uploads",
		"bucket whose notifications become submissions")
	fs.Int64(&cfg.Limits.MaxBytes, "max-image-bytes", "MAX_IMAGE_BYTES", lim.MaxBytes,
		"largest accepted image file")
	fs.Int64(&cfg.Limits.MaxPixels, "max-image-pixels", "MAX_IMAGE_PIXELS", lim.MaxPixels,
		"largest accepted width × height")
	fs.Duration(&cfg.PresignTTL, "presign-ttl", "PRESIGN_TTL", 15*time.Minute,
		"validity of presigned upload URLs")
	fs.Duration(&cfg.OutboxPoll, "outbox-poll", "OUTBOX_POLL", 2*time.Second,
		"outbox relay poll interval when no notification arrives")
	fs.String(&hook.URL, "webhook-url", "WEBHOOK_URL", "",
		"URL that receives each alert as a signed POST; empty disables webhooks")
	fs.Secret(&hook.Secret, "webhook-secret", "WEBHOOK_SECRET",
		"HMAC-SHA256 key signing webhook deliveries (required with WEBHOOK_URL)")
	fs.Int(&hook.MaxAttempts, "webhook-max-attempts", "WEBHOOK_MAX_ATTEMPTS", 8,
		"deliveries tried per alert before giving up (back-off doubles from 2s)")
	fs.Duration(&hook.Timeout, "webhook-timeout", "WEBHOOK_TIMEOUT", 10*time.Second,
		"timeout of one webhook delivery")
	fs.Bool(&migrate, "migrate", "ARTAUTH_MIGRATE", true, "apply database migrations at start")
	fs.Int(&maxConns, "db-max-conns", "DB_MAX_CONNS", 16, "Postgres pool size")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Events = common.Events
	log, err := common.Logger("ingest")
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, common.DatabaseURL, int32(maxConns))
	if err != nil {
		return err
	}
	defer st.Close()
	if migrate {
		v, err := st.Migrate(ctx, -1)
		if err != nil {
			return err
		}
		log.Info().Int("schema_version", v).Msg("database migrated")
	}
	nc, js, err := common.ConnectNATS("ingest")
	if err != nil {
		return err
	}
	defer nc.Drain()
	blobs, err := blob.New(ctx, common.S3)
	if err != nil {
		return err
	}
	svc, err := ingest.New(cfg, st, blobs, js, log)
	if err != nil {
		return err
	}
	if err := svc.Prepare(ctx); err != nil {
		return err
	}

	hooks, err := alerts.NewDispatcher(hook, st, log)
	if err != nil {
		return err
	}

	srv := &http.Server{Addr: addr, Handler: svc.Handler(), ReadHeaderTimeout: 10 * time.Second}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return svc.RunRelay(gctx) })
	g.Go(func() error { return svc.RunNotifications(gctx) })
	g.Go(func() error { return hooks.Run(gctx) })
	g.Go(func() error {
		log.Info().Str("addr", addr).Msg("ingest listening")
		if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server on %s: %w", addr, err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		log.Info().Msg("shutting down")
		shutCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return srv.Shutdown(shutCtx)
	})
	return g.Wait()
}
