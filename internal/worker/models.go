package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/metrics"
	"github.com/artauth/artauth/internal/registry"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/verdict"
)

// Registry is what the worker needs of the model registry.
type Registry interface {
	Active(ctx context.Context) ([]store.Model, error)
	Subscribe(ctx context.Context, fn func(registry.Notice)) error
}

// served is the model version serving one artist, with its batching policy.
type served struct {
	ref inference.Ref
	// meta is model.json as registered; the registry row, not the file in a worker's cache
	// (shared by versions with the same hash), says which version and threshold apply.
	meta      inference.Metadata
	threshold float64
	// policy is the version's own verdict policy, if its metadata has one.
	policy   *verdict.Policy
	maxBatch int
	maxDelay time.Duration
}

// servingMeta is the optional serving section of model.json.
type servingMeta struct {
	Serving struct {
		MaxBatchSize    int `json:"max_batch_size"`
		MaxQueueDelayMS int `json:"max_queue_delay_ms"`
	} `json:"serving"`
	Policy *verdict.Policy `json:"verdict_policy"`
}

// activeSet maps artists to the version serving them. Versions change only after the new one
// loaded on every device, so a corrupt or mismatched file never replaces a working version.
type activeSet struct {
	mu          sync.RWMutex
	byArtist    map[string]*served
	refreshedAt time.Time
	refreshMu   sync.Mutex // one refresh at a time
}

func (w *Worker) servedFor(m store.Model) (*served, error) {
	var meta inference.Metadata
	if err := json.Unmarshal(m.Metadata, &meta); err != nil {
		return nil, fmt.Errorf("metadata of %s@%s: %w: %w", m.Artist, m.Version, err,
			inference.ErrBadModel)
	}
	var sm servingMeta
	json.Unmarshal(m.Metadata, &sm)
	s := &served{ref: inference.Ref{Artist: m.Artist, Version: m.Version, SHA256: m.SHA256},
		meta: meta, threshold: m.Threshold, maxBatch: w.cfg.MaxBatch, maxDelay: w.cfg.MaxDelay}
	if n := sm.Serving.MaxBatchSize; n > 0 && n <= 1024 {
		s.maxBatch = n
	}
	if d := sm.Serving.MaxQueueDelayMS; d > 0 {
		s.maxDelay = time.Duration(d) * time.Millisecond
	}
	if sm.Policy != nil {
		p := *sm.Policy
		if p.NearDuplicateDistance == 0 {
			p.NearDuplicateDistance = w.cfg.Policy.NearDuplicateDistance
		}
		s.policy = &p
	}
	return s, nil
}

// resolve returns the version serving artist. An artist not known yet triggers one refresh
// (at most once a second), so a version activated a moment ago is found.
func (w *Worker) resolve(ctx context.Context, artist string) (*served, error) {
	w.active.mu.RLock()
	s, ok := w.active.byArtist[artist]
	fresh := time.Since(w.active.refreshedAt) < time.Second
	w.active.mu.RUnlock()
	if ok {
		return s, nil
	}
	if !fresh {
		if err := w.refresh(ctx, false); err != nil {
			return nil, err
		}
		w.active.mu.RLock()
		s, ok = w.active.byArtist[artist]
		w.active.mu.RUnlock()
		if ok {
			return s, nil
		}
	}
	return nil, fmt.Errorf("artist %q has no active model: %w", artist, inference.ErrUnknownArtist)
}

// refresh reads the active versions from the registry. With preload, a changed version is
// loaded on every device (and warmed up) before it replaces the old one; a version that fails
// to load is refused and the old one keeps serving. Without preload (start-up, lookups of new
// artists) versions are recorded and load on first use.
func (w *Worker) refresh(ctx context.Context, preload bool) error {
	w.active.refreshMu.Lock()
	defer w.active.refreshMu.Unlock()
	rows, err := w.reg.Active(ctx)
	if err != nil {
		return fmt.Errorf("read active models: %w", err)
	}
	for _, m := range rows {
		w.active.mu.RLock()
		cur, ok := w.active.byArtist[m.Artist]
		w.active.mu.RUnlock()
		if ok && cur.ref.SHA256 == m.SHA256 && cur.ref.Version == m.Version {
			continue
		}
		s, err := w.servedFor(m)
		if err == nil && preload && ok {
			err = w.preload(ctx, s.ref)
		}
		if err != nil {
			metrics.ModelActivations.WithLabelValues("refused").Inc()
			w.log.Error().Err(err).Str("model", m.Artist).Str("model_version", m.Version).
				Str("outcome", "refused").Msg("not switching to this model version")
			continue
		}
		w.active.mu.Lock()
		w.active.byArtist[m.Artist] = s
		w.active.mu.Unlock()
		if ok {
			metrics.ModelActivations.WithLabelValues("ok").Inc()
			w.log.Info().Str("model", m.Artist).Str("model_version", m.Version).
				Str("previous_version", cur.ref.Version).Msg("model version switched")
		}
	}
	w.active.mu.Lock()
	w.active.refreshedAt = time.Now()
	w.active.mu.Unlock()
	return nil
}

// preload loads a version on every device and releases it, leaving it warm in the caches.
func (w *Worker) preload(ctx context.Context, ref inference.Ref) error {
	for _, c := range w.caches {
		_, release, err := c.Acquire(ctx, ref)
		if err != nil {
			return err
		}
		release()
	}
	return nil
}

// watchModels applies activation notices as they come and re-reads the registry every
// RefreshEvery, until ctx ends.
func (w *Worker) watchModels(ctx context.Context) {
	notices := make(chan struct{}, 1)
	if err := w.reg.Subscribe(ctx, func(registry.Notice) {
		select {
		case notices <- struct{}{}:
		default:
		}
	}); err != nil {
		w.log.Warn().Err(err).Msg("no activation notices; polling the registry only")
	}
	t := time.NewTicker(w.cfg.RefreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-notices:
		case <-t.C:
		}
		if err := w.refresh(ctx, true); err != nil && ctx.Err() == nil {
			w.log.Warn().Err(err).Msg("model refresh failed")
		}
	}
}
