package inference

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/rs/zerolog"
)

// DirRegistry serves models from a directory laid out <root>/<artist>/<version>/model.onnx
// with model.json beside each file. The version used for an artist is the one named in
// <root>/<artist>/ACTIVE when that file exists, else the highest version (numeric dot-separated
// parts compare as numbers). Models load on first use and stay loaded. Safe for concurrent use.
//
// This is the "models for now" registry: versions in Postgres with activation notices and
// memory-bounded eviction replace it for fleets with many artists.
type DirRegistry struct {
	root string
	sc   SessionConfig
	log  zerolog.Logger
	// OnLoad, when set, is called once for each model loaded, before it is served.
	OnLoad func(*Model) error

	mu     sync.Mutex
	models map[string]*Model
	broken map[string]error
}

// NewDirRegistry serves models from root.
func NewDirRegistry(root string, sc SessionConfig, log zerolog.Logger) *DirRegistry {
	return &DirRegistry{root: root, sc: sc, log: log, models: map[string]*Model{},
		broken: map[string]error{}}
}

// Get returns the model for artist, loading it on first use. It returns ErrUnknownArtist when
// the directory has no model for the artist and ErrBadModel when the model is refused; a
// refused model is not retried until Reset.
func (r *DirRegistry) Get(artist string) (*Model, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.models[artist]; ok {
		return m, nil
	}
	if err, ok := r.broken[artist]; ok {
		return nil, err
	}
	dir, err := r.resolve(artist)
	if err != nil {
		return nil, err
	}
	m, err := Load(dir, r.sc, r.log)
	if err == nil && r.OnLoad != nil {
		if err = r.OnLoad(m); err != nil {
			m.Close()
		}
	}
	if err != nil {
		if errors.Is(err, ErrBadModel) {
			r.broken[artist] = err
		}
		return nil, err
	}
	r.log.Info().Str("model", artist).Str("model_version", m.Meta.Version).
		Str("device", m.Device.String()).Dur("duration", m.LoadTime).Msg("model loaded")
	r.models[artist] = m
	return m, nil
}

// Reset unloads every model; the next Get loads from disk again.
func (r *DirRegistry) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range r.models {
		m.Close()
	}
	r.models = map[string]*Model{}
	r.broken = map[string]error{}
}

// Close unloads every model.
func (r *DirRegistry) Close() { r.Reset() }

func (r *DirRegistry) resolve(artist string) (string, error) {
	adir := filepath.Join(r.root, artist)
	if strings.ContainsAny(artist, `/\.`) || artist == "" {
		return "", fmt.Errorf("artist %q: %w", artist, ErrUnknownArtist)
	}
	if b, err := os.ReadFile(filepath.Join(adir, "ACTIVE")); err == nil {
		v := strings.TrimSpace(string(b))
		return filepath.Join(adir, v), nil
	}
	entries, err := os.ReadDir(adir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("artist %q under %s: %w", artist, r.root, ErrUnknownArtist)
	}
	if err != nil {
		return "", fmt.Errorf("list models of %q: %w", artist, err)
	}
	var versions []string
	for _, e := range entries {
		if e.IsDir() {
			versions = append(versions, e.Name())
		}
	}
	if len(versions) == 0 {
		return "", fmt.Errorf("artist %q has no versions under %s: %w", artist, adir,
			ErrUnknownArtist)
	}
	sort.Slice(versions, func(i, j int) bool { return versionLess(versions[i], versions[j]) })
	return filepath.Join(adir, versions[len(versions)-1]), nil
}

// versionLess orders versions part by part, numerically where both parts are numbers.
func versionLess(a, b string) bool {
	pa := strings.FieldsFunc(a, func(r rune) bool { return r == '.' || r == '-' })
	pb := strings.FieldsFunc(b, func(r rune) bool { return r == '.' || r == '-' })
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		switch {
		case ea == nil && eb == nil && na != nb:
			return na < nb
		case (ea != nil || eb != nil) && pa[i] != pb[i]:
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}
