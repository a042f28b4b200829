// Command classifier-worker consumes classification requests from JetStream and scores each
// image with its claimed artist's ONNX model on the configured device.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/worker"
)

func main() {
	if err := run(os.Args[1:]); err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "classifier-worker:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	var (
		common   config.Common
		cfg      worker.Config
		sc       inference.SessionConfig
		device   string
		modelDir string
		ortLib   string
	)
	host, _ := os.Hostname()
	lim := imaging.DefaultLimits()
	fs := config.New("classifier-worker")
	fs.AddCommon(&common)
	fs.String(&modelDir, "models-dir", "MODELS_DIR", "models",
		"model directory laid out <artist>/<version>/model.onnx + model.json")
	fs.String(&ortLib, "ort-lib", "ORT_LIB", "/usr/local/lib/libonnxruntime.so.1",
		"path of the ONNX Runtime shared library")
	fs.String(&device, "device", "DEVICE", "cpu", "execution device: cpu or cuda:N")
	fs.Bool(&sc.AllowCPUFallback, "allow-cpu-fallback", "ALLOW_CPU_FALLBACK", false,
		"run on the CPU when the GPU cannot be initialised (logged as an error)")
	fs.Int(&sc.IntraOpThreads, "intra-op-threads", "ORT_INTRA_OP_THREADS", 0,
		"ONNX Runtime intra-op threads; 0 for its default (one per core)")
	fs.Int(&sc.InterOpThreads, "inter-op-threads", "ORT_INTER_OP_THREADS", 1,
		"ONNX Runtime inter-op threads")
	fs.Int(&cfg.BatchSize, "batch-size", "BATCH_SIZE", 16, "most messages per batch")
	fs.Duration(&cfg.FetchWait, "fetch-wait", "FETCH_WAIT", 250e6,
		"longest wait for a batch to fill")
	fs.Int(&cfg.Concurrency, "concurrency", "CONCURRENCY", 0,
		"concurrent downloads and decodes; 0 for one per core")
	fs.Int64(&cfg.Limits.MaxBytes, "max-image-bytes", "MAX_IMAGE_BYTES", lim.MaxBytes,
		"largest image file fetched")
	fs.Int64(&cfg.Limits.MaxPixels, "max-image-pixels", "MAX_IMAGE_PIXELS", lim.MaxPixels,
		"largest width × height decoded")
	fs.Bool(&cfg.FastDecode, "fast-decode", "FAST_DECODE", false,
		"scaled JPEG decoding for large photographs (not bit-exact with training)")
	fs.String(&cfg.WorkerID, "worker-id", "WORKER_ID", fmt.Sprintf("%s-%d", host, os.Getpid()),
		"name written beside each result")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Events = common.Events
	log, err := common.Logger("classifier-worker")
	if err != nil {
		return err
	}
	if sc.Device, err = inference.ParseDevice(device); err != nil {
		return err
	}
	if err := inference.Init(ortLib); err != nil {
		return err
	}
	log.Info().Str("ort_version", inference.Version()).Str("device", sc.Device.String()).
		Str("models_dir", modelDir).Msg("onnx runtime ready")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, common.DatabaseURL, 8)
	if err != nil {
		return err
	}
	defer st.Close()
	nc, err := nats.Connect(common.NATSURL, nats.Name("classifier-worker"),
		nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("connect to nats at %s: %w", common.NATSURL, err)
	}
	defer nc.Drain()
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream: %w", err)
	}
	if err := events.Setup(ctx, js, common.Events); err != nil {
		return err
	}
	blobs, err := blob.New(ctx, common.S3)
	if err != nil {
		return err
	}

	models := inference.NewDirRegistry(modelDir, sc, log)
	defer models.Close()
	models.OnLoad = func(m *inference.Model) error {
		loc, _ := filepath.Abs(m.Dir)
		return st.RecordModel(context.WithoutCancel(ctx), store.Model{
			Artist: m.Meta.Artist, Version: m.Meta.Version, SHA256: m.Meta.SHA256,
			Arch: m.Meta.Arch, Threshold: m.Meta.Threshold, Location: "file://" + loc,
			Metadata: json.RawMessage(m.RawMeta),
		})
	}
	w, err := worker.New(cfg, st, blobs, js, models, log)
	if err != nil {
		return err
	}
	if err := events.WatchDeadLetters(ctx, nc, js, cfg.Events.Stream, cfg.Events.Consumer,
		w.RecordDeadLetter); err != nil {
		return err
	}
	log.Info().Int("batch_size", cfg.BatchSize).Str("worker_id", cfg.WorkerID).
		Msg("worker started")
	err = w.Run(ctx)
	log.Info().Msg("worker stopped")
	return err
}
