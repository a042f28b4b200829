// Package worker is the classifier worker: it pulls classification requests from JetStream,
// fetches and preprocesses the images, groups them into batches per model version (dynamic
// batching: a batch leaves when full or when its oldest image has waited the queue delay),
// runs each batch on the first free device, writes the results of a batch in one transaction
// and acknowledges each message only after its result, or its recorded failure, is committed.
package worker

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/provenance"
	"github.com/artauth/artauth/internal/verdict"
)

// Config tunes one worker process.
type Config struct {
	// Events names the stream and the shared durable consumer.
	Events events.Config
	// MaxBatch is the largest inference batch, unless a model's metadata sets its own.
	// Default 16.
	MaxBatch int
	// MaxDelay is how long the oldest image of a partial batch may wait for more, unless a
	// model's metadata sets its own. Default 50ms.
	MaxDelay time.Duration
	// MaxInFlight bounds the messages held at once (fetched, not yet acknowledged).
	// Default 4 × MaxBatch.
	MaxInFlight int
	// FetchWait is the longest one JetStream fetch waits for messages. Default 250ms.
	FetchWait time.Duration
	// Concurrency bounds concurrent S3 downloads and image decodes. Default GOMAXPROCS.
	Concurrency int
	// Limits bound the images accepted. Default imaging.DefaultLimits().
	Limits imaging.Limits
	// FastDecode uses scaled JPEG decoding for large photographs (slightly different pixels
	// from the training transform). Default false.
	FastDecode bool
	// FastDecodeMinRatio is how much larger than the model input a scaled decode must stay
	// (imaging.Options.FastMinRatio). Default imaging.DefaultFastMinRatio (4).
	FastDecodeMinRatio int
	// WorkerID is written beside each result. Required.
	WorkerID string
	// RefreshEvery is how often the active model versions are re-read from the registry, in
	// case an activation notice was missed. Default 30s.
	RefreshEvery time.Duration
	// Policy holds the verdict thresholds, unless a model version's metadata carries its own
	// (a "verdict_policy" section). NearDuplicateDistance defaults to
	// provenance.NearDuplicateDistance.
	Policy verdict.Policy
	// ShutdownGrace is how long in-flight work may run after the stop signal. Default 30s.
	ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.MaxBatch == 0 {
		c.MaxBatch = 16
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = 50 * time.Millisecond
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 4 * c.MaxBatch
	}
	if c.FetchWait == 0 {
		c.FetchWait = 250 * time.Millisecond
	}
	if c.Concurrency == 0 {
		c.Concurrency = runtime.GOMAXPROCS(0)
	}
	if c.Limits == (imaging.Limits{}) {
		c.Limits = imaging.DefaultLimits()
	}
	if c.RefreshEvery == 0 {
		c.RefreshEvery = 30 * time.Second
	}
	if c.Policy.NearDuplicateDistance == 0 {
		c.Policy.NearDuplicateDistance = provenance.NearDuplicateDistance
	}
	if c.ShutdownGrace == 0 {
		c.ShutdownGrace = 30 * time.Second
	}
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []string
	if err := c.Events.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if c.MaxBatch < 1 || c.MaxBatch > 1024 {
		errs = append(errs, fmt.Sprintf("max batch %d: want 1..1024", c.MaxBatch))
	}
	if c.MaxDelay < 0 {
		errs = append(errs, fmt.Sprintf("max delay %s: want >= 0", c.MaxDelay))
	}
	if c.MaxInFlight < c.MaxBatch {
		errs = append(errs, fmt.Sprintf("max in flight %d: want at least the max batch %d",
			c.MaxInFlight, c.MaxBatch))
	}
	if c.FetchWait < time.Millisecond {
		errs = append(errs, fmt.Sprintf("fetch wait %s: want at least 1ms", c.FetchWait))
	}
	if c.Concurrency < 1 {
		errs = append(errs, fmt.Sprintf("concurrency %d: want at least 1", c.Concurrency))
	}
	if c.WorkerID == "" {
		errs = append(errs, "worker id: empty")
	}
	if len(errs) > 0 {
		return fmt.Errorf("worker config: %s", strings.Join(errs, "; "))
	}
	return nil
}
