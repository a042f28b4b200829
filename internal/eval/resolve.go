package eval

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ResolveModel turns a -model argument into a model version directory: a directory holding
// model.json (or the path of a file inside one), or ARTIST@VERSION, which names
// modelsDir/ARTIST/VERSION, the worker's MODELS_DIR layout.
func ResolveModel(spec, modelsDir string) (string, error) {
	if spec == "" {
		return "", fmt.Errorf("model: empty; want a model directory or ARTIST@VERSION")
	}
	if st, err := os.Stat(spec); err == nil {
		dir := spec
		if !st.IsDir() {
			dir = filepath.Dir(spec)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.json")); err != nil {
			return "", fmt.Errorf("model %s: no model.json there: %w", spec, err)
		}
		return dir, nil
	}
	i := strings.LastIndexByte(spec, '@')
	if i < 0 {
		return "", fmt.Errorf("model %q: no such directory, and not ARTIST@VERSION", spec)
	}
	artist, version := spec[:i], spec[i+1:]
	for _, part := range []string{artist, version} {
		if part == "" || part == "." || part == ".." || strings.ContainsAny(part, `/\`) {
			return "", fmt.Errorf("model %q: artist and version must be plain names", spec)
		}
	}
	if modelsDir == "" {
		return "", fmt.Errorf("model %q: set -models-dir or MODELS_DIR", spec)
	}
	dir := filepath.Join(modelsDir, artist, version)
	if _, err := os.Stat(filepath.Join(dir, "model.json")); err != nil {
		return "", fmt.Errorf("model %s: %s has no model.json: %w", spec, dir, err)
	}
	return dir, nil
}
