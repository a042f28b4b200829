// Command classifier-worker consumes classification requests from JetStream and scores each
// image with its claimed artist's active model, batching dynamically per model version, on one
// or several devices.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/metrics"
	"github.com/artauth/artauth/internal/provenance"
	"github.com/artauth/artauth/internal/registry"
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
		common      config.Common
		cfg         worker.Config
		sc          inference.SessionConfig
		rc          registry.Config
		devices     string
		ortLib      string
		metricsAddr string
		maxModels   int
		memBudget   string
		warmup      string
		spin        bool
		instances   int
	)
	host, _ := os.Hostname()
	lim := imaging.DefaultLimits()
	fs := config.New("classifier-worker")
	fs.AddCommon(&common)
	fs.String(&ortLib, "ort-lib", "ORT_LIB", "/usr/local/lib/libonnxruntime.so.1",
		"path of the ONNX Runtime shared library")
	fs.String(&devices, "device", "DEVICE", "cpu",
		"execution devices, comma-separated: cpu, cuda:N, tensorrt:N")
	fs.Bool(&sc.AllowCPUFallback, "allow-cpu-fallback", "ALLOW_CPU_FALLBACK", false,
		"run on the CPU when a GPU cannot be initialised (logged as an error, counted)")
	fs.Int(&sc.IntraOpThreads, "intra-op-threads", "ORT_INTRA_OP_THREADS", 0,
		"ONNX Runtime intra-op threads; 0 for its default (one per core)")
	fs.Int(&sc.InterOpThreads, "inter-op-threads", "ORT_INTER_OP_THREADS", 1,
		"ONNX Runtime inter-op threads")
	fs.String(&sc.GraphOptimization, "graph-optimization", "ORT_GRAPH_OPTIMIZATION", "all",
		"ONNX Runtime graph optimisation: all, extended, basic or disabled")
	fs.Bool(&sc.DisableCPUArena, "disable-cpu-arena", "ORT_DISABLE_CPU_ARENA", false,
		"turn off ONNX Runtime's CPU memory arena (smaller resident size, slower)")
	fs.Bool(&spin, "ort-spinning", "ORT_SPINNING", true,
		"let ONNX Runtime's threads busy-wait between operators (its default); false leaves "+
			"the cores to decoding when they are shared, see docs/BENCHMARKS.md")
	fs.Int(&instances, "instances", "INSTANCES_PER_DEVICE", 1,
		"sessions per device, each running its own batches; on a CPU keep instances × "+
			"intra-op threads at most the cores (2 × 1 beat 1 × 2 on 2 cores, "+
			"docs/BENCHMARKS.md)")
	fs.String(&rc.Bucket, "models-bucket", "MODELS_BUCKET", "models",
		"S3 bucket of registered model files")
	fs.String(&rc.CacheDir, "model-cache-dir", "MODEL_CACHE_DIR", "",
		"local cache of model files (default ~/.cache/artauth/models)")
	fs.String(&rc.NoticeSubject, "model-notice-subject", "MODEL_NOTICE_SUBJECT",
		"artauth.models.activated", "NATS subject of model activation notices")
	fs.Int(&maxModels, "max-resident-models", "MAX_RESIDENT_MODELS", 0,
		"most models loaded per device (least recently used idle model evicted); 0: no limit")
	fs.String(&memBudget, "model-memory-budget", "MODEL_MEMORY_BUDGET", "0",
		"bytes of model files loaded per device, e.g. 8GiB; 0: no limit")
	fs.String(&warmup, "warmup-batch-sizes", "WARMUP_BATCH_SIZES", "1",
		"batch sizes run once after each model load, comma-separated")
	fs.Int(&cfg.MaxBatch, "batch-size", "BATCH_SIZE", 16,
		"largest inference batch (a model's metadata may set its own)")
	fs.Duration(&cfg.MaxDelay, "max-queue-delay", "MAX_QUEUE_DELAY", 50*time.Millisecond,
		"longest wait of a partial batch for more images (a model may set its own)")
	fs.Int(&cfg.MaxInFlight, "max-in-flight", "MAX_IN_FLIGHT", 0,
		"messages held at once; 0 for 4 × batch size")
	fs.Duration(&cfg.FetchWait, "fetch-wait", "FETCH_WAIT", 250*time.Millisecond,
		"longest wait of one JetStream fetch")
	fs.Int(&cfg.Concurrency, "concurrency", "CONCURRENCY", 0,
		"concurrent downloads and decodes; 0 for one per core")
	fs.Int64(&cfg.Limits.MaxBytes, "max-image-bytes", "MAX_IMAGE_BYTES", lim.MaxBytes,
		"largest image file fetched")
	fs.Int64(&cfg.Limits.MaxPixels, "max-image-pixels", "MAX_IMAGE_PIXELS", lim.MaxPixels,
		"largest width × height decoded")
	fs.Bool(&cfg.FastDecode, "fast-decode", "FAST_DECODE", false,
		"scaled JPEG decoding for large photographs (not bit-exact with training)")
	fs.Int(&cfg.FastDecodeMinRatio, "fast-decode-min-ratio", "FAST_DECODE_MIN_RATIO",
		imaging.DefaultFastMinRatio,
		"with fast decode, how many times the model input a scaled decode must stay (2 is "+
			"Pillow's thumbnail rule, faster; 4 is closer to the exact path)")
	fs.Duration(&cfg.RefreshEvery, "model-refresh", "MODEL_REFRESH", 30*time.Second,
		"how often active model versions are re-read, besides notices")
	fs.String(&cfg.WorkerID, "worker-id", "WORKER_ID", fmt.Sprintf("%s-%d", host, os.Getpid()),
		"name written beside each result")
	fs.Float64(&cfg.Policy.ReviewMargin, "review-margin", "VERDICT_REVIEW_MARGIN", 0.05,
		"artist scores within this distance of the threshold go to expert review")
	fs.Float64(&cfg.Policy.AIThreshold, "ai-threshold", "VERDICT_AI_THRESHOLD", 0,
		"AI-detector score from which an image is a suspected imitation; 0: the detector's own")
	fs.Float64(&cfg.Policy.SpectralThreshold, "spectral-threshold", "VERDICT_SPECTRAL_THRESHOLD",
		0, "spectral score from which an image goes to review; 0 turns the signal off")
	fs.Int(&cfg.Policy.NearDuplicateDistance, "near-duplicate-distance",
		"NEAR_DUPLICATE_DISTANCE", provenance.NearDuplicateDistance,
		"largest perceptual-hash distance (of 64 bits) counted as the same image")
	fs.String(&metricsAddr, "metrics-addr", "METRICS_ADDR", "127.0.0.1:9090",
		"Prometheus /metrics listen address; empty to disable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sc.NoSpinning = !spin
	if instances < 1 {
		return fmt.Errorf("-instances %d: want at least 1", instances)
	}
	cfg.Events = common.Events
	log, err := common.Logger("classifier-worker")
	if err != nil {
		return err
	}
	devs, err := inference.ParseDevices(devices)
	if err != nil {
		return err
	}
	budget, err := parseBytes(memBudget)
	if err != nil {
		return fmt.Errorf("MODEL_MEMORY_BUDGET: %w", err)
	}
	warm, err := parseInts(warmup)
	if err != nil {
		return fmt.Errorf("WARMUP_BATCH_SIZES: %w", err)
	}
	if err := inference.Init(ortLib); err != nil {
		return err
	}
	log.Info().Str("ort_version", inference.Version()).Str("devices", devices).
		Msg("onnx runtime ready")

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, common.DatabaseURL, 8)
	if err != nil {
		return err
	}
	defer st.Close()
	nc, js, err := common.ConnectNATS("classifier-worker")
	if err != nil {
		return err
	}
	defer nc.Drain()
	if err := events.Setup(ctx, js, common.Events); err != nil {
		return err
	}
	blobs, err := blob.New(ctx, common.S3)
	if err != nil {
		return err
	}
	reg := registry.New(rc, st, blobs, nc, log)

	var caches []*inference.Cache
	for _, d := range devs {
		dsc := sc
		dsc.Device = d
		used, err := inference.ProbeDevice(dsc)
		switch {
		case err != nil && used == (inference.Device{}):
			return err
		case err != nil:
			// Loud on purpose: a GPU worker silently running on the CPU is a capacity outage.
			log.Error().Err(err).Str("device", d.String()).
				Msg("GPU could not be initialised; FALLING BACK TO CPU")
			metrics.DeviceFallbacks.WithLabelValues(d.String()).Inc()
		}
		for i := 0; i < instances; i++ {
			c := inference.NewCache(inference.CacheConfig{Session: dsc, MaxModels: maxModels,
				MaxBytes: budget, WarmupBatchSizes: warm, Instance: i}, reg.Fetch, log)
			defer c.Close()
			caches = append(caches, c)
		}
	}
	w, err := worker.New(cfg, st, blobs, js, reg, caches, log)
	if err != nil {
		return err
	}
	if err := events.WatchDeadLetters(ctx, nc, js, cfg.Events.Stream, cfg.Events.Consumer,
		w.RecordDeadLetter); err != nil {
		return err
	}
	log.Info().Int("batch_size", cfg.MaxBatch).Dur("max_queue_delay", cfg.MaxDelay).
		Str("worker_id", cfg.WorkerID).Msg("worker started")
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return metrics.Serve(gctx, metricsAddr) })
	g.Go(func() error {
		err := w.Run(ctx)
		stop() // the metrics server ends with the worker
		return err
	})
	err = g.Wait()
	log.Info().Msg("worker stopped")
	return err
}

// parseBytes reads a size such as 512MiB, 8GiB, 2GB or 1048576.
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes such as 8GiB", s)
	}
	return int64(n * float64(mult)), nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q: want positive integers separated by commas", s)
		}
		out = append(out, n)
	}
	return out, nil
}
