package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/registry"
	"github.com/artauth/artauth/internal/store"
	"github.com/artauth/artauth/internal/testenv"
)

func copyDir(t *testing.T, src, version string, edit func(onnx []byte) []byte) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), version)
	os.MkdirAll(dst, 0o755)
	onnx, _ := os.ReadFile(filepath.Join(src, "model.onnx"))
	if edit != nil {
		onnx = edit(onnx)
	}
	os.WriteFile(filepath.Join(dst, "model.onnx"), onnx, 0o644)
	var meta map[string]any
	raw, _ := os.ReadFile(filepath.Join(src, "model.json"))
	json.Unmarshal(raw, &meta)
	meta["version"] = version
	raw, _ = json.Marshal(meta)
	os.WriteFile(filepath.Join(dst, "model.json"), raw, 0o644)
	return dst
}

func TestRegistry(t *testing.T) {
	st, _ := testenv.Postgres(t)
	nc, _, cfg, _ := testenv.NATS(t)
	s3 := testenv.S3(t, "", "")
	ctx := context.Background()
	blobs, err := blob.New(ctx, s3.BlobConfig())
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	reg := registry.New(registry.Config{CacheDir: cache,
		NoticeSubject: cfg.Prefix + ".models.activated"}, st, blobs, nc, testenv.Logger(t))
	src := filepath.Join(testenv.Models(t, "tiny"), "monet", "1.0.0")

	notices := make(chan registry.Notice, 4)
	if err := reg.Subscribe(ctx, func(n registry.Notice) { notices <- n }); err != nil {
		t.Fatal(err)
	}

	m1, err := reg.Register(ctx, src)
	if err != nil || m1.State != store.ModelStaged || m1.Location != "s3://models/monet/1.0.0/" {
		t.Fatalf("register: %+v, %v", m1, err)
	}

	t.Run("TamperedFileRefusedAtRegistration", func(t *testing.T) {
		dir := copyDir(t, src, "1.0.1", func(b []byte) []byte { return append(b, 0) })
		if _, err := reg.Register(ctx, dir); !errors.Is(err, inference.ErrBadModel) {
			t.Fatalf("err %v, want ErrBadModel", err)
		}
	})

	t.Run("VersionsAreImmutable", func(t *testing.T) {
		other := filepath.Join(testenv.Models(t, "tiny"), "vangogh", "1.0.0")
		dir := copyDir(t, other, "1.0.0", nil)
		var meta map[string]any
		raw, _ := os.ReadFile(filepath.Join(dir, "model.json"))
		json.Unmarshal(raw, &meta)
		meta["artist"] = "monet"
		raw, _ = json.Marshal(meta)
		os.WriteFile(filepath.Join(dir, "model.json"), raw, 0o644)
		if _, err := reg.Register(ctx, dir); !errors.Is(err, store.ErrModelConflict) {
			t.Fatalf("err %v, want ErrModelConflict", err)
		}
	})

	t.Run("ActivateAnnounces", func(t *testing.T) {
		if _, err := reg.Activate(ctx, "monet", "1.0.0"); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-notices:
			if n.Artist != "monet" || n.Version != "1.0.0" || n.SHA256 != m1.SHA256 {
				t.Fatalf("notice %+v", n)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no activation notice")
		}
	})

	t.Run("FetchCachesByHash", func(t *testing.T) {
		ref := inference.Ref{Artist: "monet", Version: "1.0.0", SHA256: m1.SHA256}
		dir, err := reg.Fetch(ctx, ref)
		if err != nil || dir != filepath.Join(cache, m1.SHA256) {
			t.Fatalf("fetch: %s, %v", dir, err)
		}
		if _, _, err := inference.ReadMetadata(dir); err != nil {
			t.Fatal(err)
		}
		bad := inference.Ref{Artist: "monet", Version: "1.0.0", SHA256: "00" + m1.SHA256[2:]}
		if _, err := reg.Fetch(ctx, bad); !errors.Is(err, inference.ErrBadModel) {
			t.Fatalf("fetch with a wrong hash: %v, want ErrBadModel", err)
		}
	})

	t.Run("Rollback", func(t *testing.T) {
		dir := copyDir(t, src, "1.1.0", nil)
		if _, err := reg.Register(ctx, dir); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Activate(ctx, "monet", "1.1.0"); err != nil {
			t.Fatal(err)
		}
		back, err := reg.Rollback(ctx, "monet")
		if err != nil || back.Version != "1.0.0" {
			t.Fatalf("rollback: %+v, %v", back, err)
		}
		active, _ := reg.Active(ctx)
		if len(active) != 1 || active[0].Version != "1.0.0" {
			t.Fatalf("active after rollback: %+v", active)
		}
	})
}
