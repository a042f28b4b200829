package inference_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/metrics"
	"github.com/artauth/artauth/internal/testenv"
)

// modelSet serves the two tiny exported models (different seeds, so different hashes).
type modelSet struct {
	dirs map[string]string // sha -> dir
	refs []inference.Ref
}

func tinyRefs(t *testing.T) modelSet {
	t.Helper()
	root := testenv.Models(t, "tiny")
	ms := modelSet{dirs: map[string]string{}}
	for _, artist := range []string{"monet", "vangogh"} {
		dir := filepath.Join(root, artist, "1.0.0")
		meta, _, err := inference.ReadMetadata(dir)
		if err != nil {
			t.Fatal(err)
		}
		ms.dirs[meta.SHA256] = dir
		ms.refs = append(ms.refs, inference.Ref{Artist: artist, Version: "1.0.0",
			SHA256: meta.SHA256})
	}
	if ms.refs[0].SHA256 == ms.refs[1].SHA256 {
		t.Fatal("the tiny monet and vangogh models have the same hash: export them with " +
			"different seeds")
	}
	return ms
}

func (ms modelSet) fetch(_ context.Context, ref inference.Ref) (string, error) {
	if d, ok := ms.dirs[ref.SHA256]; ok {
		return d, nil
	}
	return "", fmt.Errorf("no files for %s", ref)
}

func TestCache(t *testing.T) {
	testenv.ORT(t)
	ms := tinyRefs(t)
	a, b := ms.refs[0], ms.refs[1]
	log := testenv.Logger(t)
	cpu := inference.SessionConfig{Device: inference.CPU, IntraOpThreads: 1}
	ctx := context.Background()

	t.Run("SharedAcrossAcquires", func(t *testing.T) {
		c := inference.NewCache(inference.CacheConfig{Session: cpu}, ms.fetch, log)
		defer c.Close()
		var wg sync.WaitGroup
		models := make([]*inference.Model, 4)
		for i := range models {
			wg.Add(1)
			go func() {
				defer wg.Done()
				m, release, err := c.Acquire(ctx, a)
				if err != nil {
					t.Error(err)
					return
				}
				models[i] = m
				release()
			}()
		}
		wg.Wait()
		for _, m := range models[1:] {
			if m != models[0] {
				t.Fatal("concurrent Acquires loaded the model more than once")
			}
		}
	})

	t.Run("EvictionNeverUnloadsAModelInUse", func(t *testing.T) {
		c := inference.NewCache(inference.CacheConfig{Session: cpu, MaxModels: 1}, ms.fetch, log)
		defer c.Close()
		before := testutil.ToFloat64(metrics.ModelEvictions.WithLabelValues("cpu"))
		ma, releaseA, err := c.Acquire(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		mb, releaseB, err := c.Acquire(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		// Both are in use: the budget of one is exceeded rather than a model pulled away.
		if n := len(c.Resident()); n != 2 {
			t.Fatalf("%d resident while both are in use, want 2", n)
		}
		in := make([]float32, ma.InputLen())
		if _, err := ma.Run(in, 1); err != nil {
			t.Fatalf("model A unusable while held: %v", err)
		}
		releaseA()
		res := c.Resident()
		if len(res) != 1 || res[b] != 1 {
			t.Fatalf("after releasing A, resident %v: want only B (in use)", res)
		}
		if _, err := mb.Run(in, 1); err != nil {
			t.Fatalf("model B unusable: %v", err)
		}
		releaseB()
		if got := testutil.ToFloat64(metrics.ModelEvictions.WithLabelValues("cpu")); got != before+1 {
			t.Fatalf("evictions counter went from %v to %v, want +1", before, got)
		}
		// LRU: using A again evicts B, the least recently used idle model.
		_, release, err := c.Acquire(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		release()
		if res := c.Resident(); len(res) != 1 || res[a] != 0 {
			t.Fatalf("resident %v, want only A", res)
		}
	})

	t.Run("ByteBudget", func(t *testing.T) {
		fi, _ := os.Stat(filepath.Join(ms.dirs[a.SHA256], "model.onnx"))
		c := inference.NewCache(inference.CacheConfig{Session: cpu,
			MaxBytes: fi.Size() + fi.Size()/2}, ms.fetch, log)
		defer c.Close()
		for _, r := range []inference.Ref{a, b, a} {
			_, release, err := c.Acquire(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			release()
			if n := len(c.Resident()); n != 1 {
				t.Fatalf("%d resident under a budget of one and a half models", n)
			}
		}
	})

	t.Run("HashMismatchRefusedAndNotKept", func(t *testing.T) {
		wrong := inference.Ref{Artist: "monet", Version: "9", SHA256: a.SHA256}
		// The fetcher serves B's files for A's hash: the loaded file must not be accepted.
		bad := func(context.Context, inference.Ref) (string, error) {
			return ms.dirs[b.SHA256], nil
		}
		cb := inference.NewCache(inference.CacheConfig{Session: cpu}, bad, log)
		defer cb.Close()
		before := testutil.ToFloat64(metrics.ModelLoads.WithLabelValues("cpu", "refused"))
		_, _, err := cb.Acquire(ctx, wrong)
		if !errors.Is(err, inference.ErrBadModel) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("err %v, want ErrBadModel about the hash", err)
		}
		if len(cb.Resident()) != 0 {
			t.Fatal("a refused model stayed resident")
		}
		if got := testutil.ToFloat64(metrics.ModelLoads.WithLabelValues("cpu", "refused")); got != before+1 {
			t.Fatalf("refused loads went from %v to %v", before, got)
		}
	})

	t.Run("FallbackCounted", func(t *testing.T) {
		sc := cpu
		sc.Device = inference.Device{Kind: "cuda", Index: 0}
		sc.AllowCPUFallback = true
		c := inference.NewCache(inference.CacheConfig{Session: sc}, ms.fetch, log)
		defer c.Close()
		before := testutil.ToFloat64(metrics.DeviceFallbacks.WithLabelValues("cuda:0"))
		m, release, err := c.Acquire(ctx, a)
		if err != nil {
			t.Fatal(err)
		}
		defer release()
		if !m.FellBack {
			t.Skip("CUDA initialised here: no fallback to count")
		}
		if got := testutil.ToFloat64(metrics.DeviceFallbacks.WithLabelValues("cuda:0")); got != before+1 {
			t.Fatalf("fallbacks went from %v to %v", before, got)
		}
	})
}
