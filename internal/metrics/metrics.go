// Package metrics defines the Prometheus metrics of the services and serves them. The
// collectors are package variables registered on Registry, so every part of a process records
// into one place; label values are bounded (model artists, devices, reasons), never IDs.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Registry holds every collector of this process.
var Registry = prometheus.NewRegistry()

var factory = func() prometheus.Registerer {
	Registry.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return Registry
}()

func histogram(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: "artauth", Name: name,
		Help: help, Buckets: buckets}, labels)
	factory.MustRegister(h)
	return h
}

func counter(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "artauth", Name: name,
		Help: help}, labels)
	factory.MustRegister(c)
	return c
}

func gauge(name, help string, labels ...string) *prometheus.GaugeVec {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: "artauth", Name: name,
		Help: help}, labels)
	factory.MustRegister(g)
	return g
}

var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// Worker and inference metrics.
var (
	// QueueDelay is the time an image waited in its model's batcher before its batch ran.
	QueueDelay = histogram("batch_queue_delay_seconds",
		"Time from an image being ready to its batch starting.", latencyBuckets, "model")
	// Compute is the ONNX Runtime run time of one batch.
	Compute = histogram("batch_compute_seconds", "ONNX Runtime time of one batch.",
		latencyBuckets, "model", "device")
	// BatchSize is the realised batch size: the histogram that shows whether batching works.
	BatchSize = histogram("batch_size", "Images per inference batch.",
		[]float64{1, 2, 4, 8, 16, 32, 64, 128}, "model", "device")
	// Preprocess is the fetch, verify and decode time of one image.
	Preprocess = histogram("preprocess_seconds", "S3 fetch, hash check and decode of one image.",
		latencyBuckets, "stage")
	// EndToEnd is the time from a message's arrival at the worker to its acknowledgement.
	EndToEnd = histogram("message_seconds", "Worker time of one message, fetch to ack.",
		latencyBuckets, "outcome")
	// Messages counts settled messages by outcome (classified, duplicate, failed_permanent,
	// retried, dead_letter).
	Messages = counter("messages_total", "Messages settled by the worker, by outcome.",
		"outcome")
	// Failures counts failures by reason class.
	Failures = counter("failures_total", "Failures by kind and reason.", "kind", "reason")
	// ModelLoads counts model loads by device and outcome (ok, refused, error).
	ModelLoads = counter("model_loads_total", "Model loads by device and outcome.",
		"device", "outcome")
	// ModelLoadTime is the fetch, verify, session creation and warm-up time of a model.
	ModelLoadTime = histogram("model_load_seconds", "Time to make a model servable.",
		[]float64{.05, .1, .25, .5, 1, 2, 5, 10, 30, 60}, "device")
	// ModelEvictions counts models unloaded to respect the memory budget.
	ModelEvictions = counter("model_evictions_total", "Models unloaded by the LRU budget.",
		"device")
	// ModelsResident is the number of loaded models per device.
	ModelsResident = gauge("models_resident", "Models loaded per device.", "device")
	// ModelBytesResident is the estimated memory of loaded models per device.
	ModelBytesResident = gauge("model_bytes_resident",
		"Estimated bytes of loaded models per device (model file sizes).", "device")
	// DeviceFallbacks counts sessions that fell back to the CPU.
	DeviceFallbacks = counter("device_fallbacks_total",
		"Sessions created on the CPU because the asked device failed.", "device")
	// Alerts counts alerts raised, by reason.
	Alerts = counter("alerts_total", "Alerts raised, by reason.", "reason")
	// ModelActivations counts version switches applied by this worker, by outcome.
	ModelActivations = counter("model_activations_total",
		"Activation notices applied (ok) or refused by this worker.", "outcome")
)

// Serve exposes /metrics on addr until ctx ends. An empty addr serves nothing.
func Serve(ctx context.Context, addr string) error {
	if addr == "" {
		return nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shut)
	}()
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
