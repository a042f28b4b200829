package inference

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/metrics"
)

// Ref names one model version. SHA256 identifies the file, so two refs with the same hash
// share one loaded session.
type Ref struct {
	Artist  string
	Version string
	SHA256  string
}

func (r Ref) String() string { return r.Artist + "@" + r.Version }

// Fetcher makes a model version available on local disk and returns the directory holding
// its model.onnx and model.json.
type Fetcher func(ctx context.Context, ref Ref) (string, error)

// CacheConfig bounds the models one device keeps loaded.
type CacheConfig struct {
	Session SessionConfig
	// MaxModels bounds the number of loaded models; 0 means no bound.
	MaxModels int
	// MaxBytes bounds the summed model file sizes, an estimate of their memory; 0 means no
	// bound. ONNX Runtime needs somewhat more than the file for its arena and activations.
	MaxBytes int64
	// WarmupBatchSizes are run once with zeros after a load, so the first real batch of each
	// size does not pay for ONNX Runtime's first-run work. Default [1].
	WarmupBatchSizes []int
	// Instance numbers the caches of one device when a worker runs several instances of it
	// (each with its own sessions, running its own batches); 0 for the first. Metrics label
	// instance i > 0 as device "<device>/<i>".
	Instance int
}

// Cache keeps the models of one device loaded, up to its budget, evicting the least recently
// used model that no batch is using. Acquire hands out a model with a release function; a
// model is never unloaded between Acquire and release. Safe for concurrent use.
type Cache struct {
	cfg   CacheConfig
	fetch Fetcher
	log   zerolog.Logger
	dev   string

	mu      sync.Mutex
	entries map[string]*cacheEntry // by SHA256
	bytes   int64
	tick    uint64
}

type cacheEntry struct {
	ref      Ref
	model    *Model
	size     int64
	refs     int
	lastUsed uint64
	ready    chan struct{} // closed once loading ended
	err      error
}

// NewCache returns an empty cache for the device in cfg.Session.
func NewCache(cfg CacheConfig, fetch Fetcher, log zerolog.Logger) *Cache {
	if len(cfg.WarmupBatchSizes) == 0 {
		cfg.WarmupBatchSizes = []int{1}
	}
	dev := cfg.Session.Device.String()
	if cfg.Instance > 0 {
		dev = fmt.Sprintf("%s/%d", dev, cfg.Instance)
	}
	return &Cache{cfg: cfg, fetch: fetch, log: log, dev: dev,
		entries: map[string]*cacheEntry{}}
}

// Device is the device this cache loads onto.
func (c *Cache) Device() Device { return c.cfg.Session.Device }

// Acquire returns the loaded model for ref, loading it first if needed, and a release
// function that must be called once the caller stops using the model. Concurrent Acquires of
// a model being loaded wait for that load. A model that fails to load is not kept: the next
// Acquire tries again.
func (c *Cache) Acquire(ctx context.Context, ref Ref) (*Model, func(), error) {
	c.mu.Lock()
	e, ok := c.entries[ref.SHA256]
	if !ok {
		e = &cacheEntry{ref: ref, refs: 1, ready: make(chan struct{})}
		c.entries[ref.SHA256] = e
		c.mu.Unlock()
		c.load(ctx, e)
		if e.err != nil {
			return nil, nil, e.err
		}
		return e.model, c.releaser(e), nil
	}
	e.refs++
	c.mu.Unlock()

	select {
	case <-e.ready:
	case <-ctx.Done():
		c.release(e)
		return nil, nil, ctx.Err()
	}
	if e.err != nil {
		c.release(e)
		return nil, nil, e.err
	}
	return e.model, c.releaser(e), nil
}

func (c *Cache) load(ctx context.Context, e *cacheEntry) {
	start := time.Now()
	var evicted []*Model
	defer func() {
		for _, m := range evicted {
			m.Close()
		}
	}()
	dir, err := c.fetch(ctx, e.ref)
	var size int64
	if err == nil {
		var fi os.FileInfo
		if fi, err = os.Stat(filepath.Join(dir, "model.onnx")); err == nil {
			size = fi.Size()
		}
	}
	if err == nil {
		// Make room before creating the session, so the budget holds at the peak too.
		c.mu.Lock()
		evicted = c.evictLocked(size, 1)
		c.mu.Unlock()
		for _, m := range evicted {
			m.Close()
		}
		evicted = nil
		e.model, err = Load(dir, c.cfg.Session, c.log)
	}
	if err == nil && e.model.Meta.SHA256 != e.ref.SHA256 {
		err = fmt.Errorf("model %s: file sha256 %s, registry says %s: %w",
			e.ref, e.model.Meta.SHA256, e.ref.SHA256, ErrBadModel)
		e.model.Close()
	}
	if err == nil {
		err = c.warmUp(e.model)
		if err != nil {
			e.model.Close()
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		e.err = fmt.Errorf("load %s on %s: %w", e.ref, c.dev, err)
		delete(c.entries, e.ref.SHA256)
		close(e.ready)
		outcome := "error"
		if errors.Is(err, ErrBadModel) {
			outcome = "refused"
		}
		metrics.ModelLoads.WithLabelValues(c.dev, outcome).Inc()
		c.log.Error().Err(err).Str("model", e.ref.Artist).Str("model_version", e.ref.Version).
			Str("device", c.dev).Str("outcome", outcome).Msg("model load failed")
		return
	}
	if e.model.FellBack {
		metrics.DeviceFallbacks.WithLabelValues(c.dev).Inc()
	}
	e.size = size
	c.bytes += size
	c.tick++
	e.lastUsed = c.tick
	close(e.ready)
	evicted = c.evictLocked(0, 0)
	c.gaugesLocked()
	metrics.ModelLoads.WithLabelValues(c.dev, "ok").Inc()
	metrics.ModelLoadTime.WithLabelValues(c.dev).Observe(time.Since(start).Seconds())
	c.log.Info().Str("model", e.ref.Artist).Str("model_version", e.ref.Version).
		Str("device", e.model.Device.String()).Int64("bytes", size).
		Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
		Int("resident", len(c.entries)).Msg("model loaded")
}

func (c *Cache) warmUp(m *Model) error {
	for _, n := range c.cfg.WarmupBatchSizes {
		if n < 1 {
			continue
		}
		if _, err := m.Run(make([]float32, n*m.InputLen()), n); err != nil {
			return fmt.Errorf("warm-up with batch %d: %w", n, err)
		}
	}
	return nil
}

// evictLocked unloads idle models, least recently used first, until adding a model of size
// bytes (and count more models) fits the budget, or no idle model is left. It returns the
// models to close once the lock is released.
func (c *Cache) evictLocked(size int64, count int) []*Model {
	var out []*Model
	for c.overLocked(size, count) {
		var victim *cacheEntry
		for _, e := range c.entries {
			if e.refs == 0 && e.model != nil && (victim == nil || e.lastUsed < victim.lastUsed) {
				victim = e
			}
		}
		if victim == nil {
			// Everything loaded is in use: the budget is exceeded until a release.
			break
		}
		delete(c.entries, victim.ref.SHA256)
		c.bytes -= victim.size
		out = append(out, victim.model)
		metrics.ModelEvictions.WithLabelValues(c.dev).Inc()
		c.log.Info().Str("model", victim.ref.Artist).Str("model_version", victim.ref.Version).
			Str("device", c.dev).Msg("model evicted")
	}
	c.gaugesLocked()
	return out
}

func (c *Cache) overLocked(size int64, count int) bool {
	loaded := 0
	for _, e := range c.entries {
		if e.model != nil {
			loaded++
		}
	}
	return (c.cfg.MaxModels > 0 && loaded+count > c.cfg.MaxModels) ||
		(c.cfg.MaxBytes > 0 && c.bytes+size > c.cfg.MaxBytes)
}

func (c *Cache) gaugesLocked() {
	n := 0
	for _, e := range c.entries {
		if e.model != nil {
			n++
		}
	}
	metrics.ModelsResident.WithLabelValues(c.dev).Set(float64(n))
	metrics.ModelBytesResident.WithLabelValues(c.dev).Set(float64(c.bytes))
}

func (c *Cache) releaser(e *cacheEntry) func() {
	var once sync.Once
	return func() { once.Do(func() { c.release(e) }) }
}

func (c *Cache) release(e *cacheEntry) {
	c.mu.Lock()
	e.refs--
	c.tick++
	e.lastUsed = c.tick
	evicted := c.evictLocked(0, 0)
	c.mu.Unlock()
	for _, m := range evicted {
		m.Close()
	}
}

// Resident returns the refs of the loaded models and how many batches use each.
func (c *Cache) Resident() map[Ref]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[Ref]int{}
	for _, e := range c.entries {
		if e.model != nil {
			out[e.ref] = e.refs
		}
	}
	return out
}

// Close unloads every model. Call it only once nothing uses the cache.
func (c *Cache) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		if e.model != nil {
			e.model.Close()
		}
		delete(c.entries, k)
	}
	c.bytes = 0
	c.gaugesLocked()
}
