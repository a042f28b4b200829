// Package registry keeps model versions: files in S3, rows in Postgres (staged, active,
// retired), a verified local disk cache for workers, and activation notices on NATS so that
// workers switch versions without a restart.
package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
)

// Config says where model files live.
type Config struct {
	// Bucket holds model files under <artist>/<version>/. Default "models".
	Bucket string
	// CacheDir is the workers' local copy of model files, one directory per SHA-256.
	// Default $XDG_CACHE_HOME/artauth/models (~/.cache/artauth/models).
	CacheDir string
	// NoticeSubject carries activation notices. Default "artauth.models.activated".
	NoticeSubject string
	// MaxModelBytes bounds a model file read from S3. Default 2 GiB.
	MaxModelBytes int64
}

func (c *Config) setDefaults() {
	if c.Bucket == "" {
		c.Bucket = "models"
	}
	if c.CacheDir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		c.CacheDir = filepath.Join(base, "artauth", "models")
	}
	if c.NoticeSubject == "" {
		c.NoticeSubject = "artauth.models.activated"
	}
	if c.MaxModelBytes == 0 {
		c.MaxModelBytes = 2 << 30
	}
}

// Notice announces that a model version became active.
type Notice struct {
	Artist  string    `json:"artist"`
	Version string    `json:"version"`
	SHA256  string    `json:"sha256"`
	At      time.Time `json:"at"`
}

// Registry is safe for concurrent use.
type Registry struct {
	cfg   Config
	st    *store.Store
	blobs *blob.Client
	nc    *nats.Conn
	log   zerolog.Logger
}

// New returns a registry. nc may be nil for processes that never activate models.
func New(cfg Config, st *store.Store, blobs *blob.Client, nc *nats.Conn,
	log zerolog.Logger) *Registry {
	cfg.setDefaults()
	return &Registry{cfg: cfg, st: st, blobs: blobs, nc: nc, log: log}
}

// Config returns the configuration in use, defaults filled in.
func (r *Registry) Config() Config { return r.cfg }

func (r *Registry) key(artist, version, file string) string {
	return artist + "/" + version + "/" + file
}

// Register uploads a model version directory (model.onnx and model.json) to S3 and records
// it as staged. The file's SHA-256 must match its metadata. Registering the same version with
// the same file again changes nothing; another file under the same version is refused.
func (r *Registry) Register(ctx context.Context, dir string) (store.Model, error) {
	meta, raw, err := inference.ReadMetadata(dir)
	if err != nil {
		return store.Model{}, err
	}
	data, err := os.ReadFile(filepath.Join(dir, "model.onnx"))
	if err != nil {
		return store.Model{}, fmt.Errorf("read model file in %s: %w", dir, err)
	}
	if got := hexSHA(data); got != meta.SHA256 {
		return store.Model{}, fmt.Errorf("model %s@%s: file sha256 %s, model.json says %s: %w",
			meta.Artist, meta.Version, got, meta.SHA256, inference.ErrBadModel)
	}
	if existing, err := r.st.GetModel(ctx, meta.Artist, meta.Version); err == nil &&
		existing.SHA256 != meta.SHA256 {
		return existing, fmt.Errorf("model %s@%s: registered sha256 %s, file has %s: %w",
			meta.Artist, meta.Version, existing.SHA256, meta.SHA256, store.ErrModelConflict)
	}
	if err := r.blobs.EnsureBucket(ctx, r.cfg.Bucket); err != nil {
		return store.Model{}, err
	}
	for _, f := range []struct {
		name string
		body []byte
	}{{"model.onnx", data}, {"model.json", raw}} {
		if err := r.blobs.Put(ctx, r.cfg.Bucket, r.key(meta.Artist, meta.Version, f.name),
			f.body, "", map[string]string{"sha256": meta.SHA256}); err != nil {
			return store.Model{}, err
		}
	}
	var extra struct {
		Metrics json.RawMessage `json:"metrics"`
	}
	json.Unmarshal(raw, &extra)
	return r.st.RegisterModel(ctx, store.Model{
		Artist: meta.Artist, Version: meta.Version, SHA256: meta.SHA256, Arch: meta.Arch,
		Threshold: meta.Threshold, Metadata: raw, Metrics: extra.Metrics,
		Location: fmt.Sprintf("s3://%s/%s/%s/", r.cfg.Bucket, meta.Artist, meta.Version),
	})
}

// Activate makes a registered version active after checking that its file in S3 still has
// the registered hash, then tells the workers. It returns the version it replaced, if any.
func (r *Registry) Activate(ctx context.Context, artist, version string) (*store.Model, error) {
	m, err := r.st.GetModel(ctx, artist, version)
	if err != nil {
		return nil, err
	}
	data, err := r.blobs.Get(ctx, r.cfg.Bucket, r.key(artist, version, "model.onnx"),
		r.cfg.MaxModelBytes)
	if err != nil {
		return nil, fmt.Errorf("check model file of %s@%s: %w", artist, version, err)
	}
	if got := hexSHA(data); got != m.SHA256 {
		return nil, fmt.Errorf("model %s@%s: file in S3 has sha256 %s, registered %s: %w",
			artist, version, got, m.SHA256, inference.ErrBadModel)
	}
	prev, err := r.st.ActivateModel(ctx, artist, version)
	if err != nil {
		return nil, err
	}
	r.announce(Notice{Artist: artist, Version: version, SHA256: m.SHA256, At: time.Now().UTC()})
	return prev, nil
}

// Rollback re-activates the version that was active before the current one.
func (r *Registry) Rollback(ctx context.Context, artist string) (store.Model, error) {
	prev, err := r.st.PreviousModel(ctx, artist)
	if err != nil {
		return store.Model{}, err
	}
	if _, err := r.Activate(ctx, artist, prev.Version); err != nil {
		return store.Model{}, err
	}
	return prev, nil
}

// announce publishes an activation notice. Workers also poll the registry, so a notice lost
// while NATS is unreachable only delays the switch.
func (r *Registry) announce(n Notice) {
	if r.nc == nil {
		return
	}
	b, _ := json.Marshal(n)
	if err := r.nc.Publish(r.cfg.NoticeSubject, b); err != nil {
		r.log.Warn().Err(err).Str("model", n.Artist).Msg("activation notice not sent")
		return
	}
	r.nc.Flush()
}

// Subscribe calls fn for each activation notice until ctx ends.
func (r *Registry) Subscribe(ctx context.Context, fn func(Notice)) error {
	sub, err := r.nc.Subscribe(r.cfg.NoticeSubject, func(m *nats.Msg) {
		var n Notice
		if json.Unmarshal(m.Data, &n) == nil && n.Artist != "" {
			fn(n)
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to %s: %w", r.cfg.NoticeSubject, err)
	}
	go func() {
		<-ctx.Done()
		sub.Unsubscribe()
	}()
	return nil
}

// Fetch returns a local directory holding the model version's files, downloading them from
// S3 into the cache when they are not there. The directory is named by the file's hash and
// filled atomically, and the hash is checked again when the model loads.
func (r *Registry) Fetch(ctx context.Context, ref inference.Ref) (string, error) {
	dir := filepath.Join(r.cfg.CacheDir, ref.SHA256)
	if _, err := os.Stat(filepath.Join(dir, "model.json")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(r.cfg.CacheDir, 0o755); err != nil {
		return "", fmt.Errorf("model cache %s: %w", r.cfg.CacheDir, err)
	}
	tmp, err := os.MkdirTemp(r.cfg.CacheDir, ".fetch-")
	if err != nil {
		return "", fmt.Errorf("model cache %s: %w", r.cfg.CacheDir, err)
	}
	defer os.RemoveAll(tmp)
	for _, name := range []string{"model.onnx", "model.json"} {
		data, err := r.blobs.Get(ctx, r.cfg.Bucket, r.key(ref.Artist, ref.Version, name),
			r.cfg.MaxModelBytes)
		if err != nil {
			return "", fmt.Errorf("fetch %s of %s: %w", name, ref, err)
		}
		if name == "model.onnx" && hexSHA(data) != ref.SHA256 {
			return "", fmt.Errorf("model %s: downloaded file has sha256 %s, want %s: %w",
				ref, hexSHA(data), ref.SHA256, inference.ErrBadModel)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), data, 0o644); err != nil {
			return "", fmt.Errorf("write %s of %s: %w", name, ref, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) &&
		!strings.Contains(err.Error(), "directory not empty") {
		return "", fmt.Errorf("place model %s in cache: %w", ref, err)
	}
	return dir, nil
}

// Active returns the active version of every artist.
func (r *Registry) Active(ctx context.Context) ([]store.Model, error) {
	return r.st.ActiveModels(ctx)
}

func hexSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
