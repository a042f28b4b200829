// Package worker is the classifier worker: it pulls classification requests from JetStream in
// batches, fetches and preprocesses the images, scores them with each claimed artist's model
// and writes the results to Postgres, acknowledging each message only after its result (or its
// recorded failure) is committed.
package worker

import (
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/imaging"
)

// Config tunes one worker process.
type Config struct {
	// Events names the stream and the shared durable consumer.
	Events events.Config
	// BatchSize is the most messages taken in one fetch. Default 16.
	BatchSize int
	// FetchWait is the longest a fetch waits for its batch to fill. Default 250ms.
	FetchWait time.Duration
	// Concurrency bounds concurrent S3 downloads and image decodes. Default GOMAXPROCS.
	Concurrency int
	// Limits bound the images accepted. Default imaging.DefaultLimits().
	Limits imaging.Limits
	// FastDecode uses scaled JPEG decoding for large photographs (slightly different pixels
	// from the training transform). Default false.
	FastDecode bool
	// WorkerID is written beside each result. Default the host name and pid.
	WorkerID string
	// ShutdownGrace is how long in-flight work may run after the stop signal. Default 30s.
	ShutdownGrace time.Duration
}

func (c *Config) setDefaults() {
	if c.BatchSize == 0 {
		c.BatchSize = 16
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
	if c.BatchSize < 1 || c.BatchSize > 1024 {
		errs = append(errs, fmt.Sprintf("batch size %d: want 1..1024", c.BatchSize))
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
