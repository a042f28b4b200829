package imaging

import (
	"bytes"
	"errors"
	"image"
	"image/jpeg"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
)

// pythonTorch is the only interpreter with torch 1.13 / torchvision 0.14.
const pythonTorch = "/usr/bin/python3"

func inCI() bool { return os.Getenv("CI") == "true" }

// skipOrFail skips the test, or fails it when CI=true.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if inCI() {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}

// artDir locates the shared art image set: $ARTAUTH_ART_DIR, or the first
// shared/data/art found walking up from the package directory.
func artDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ARTAUTH_ART_DIR"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		cand := filepath.Join(dir, "shared", "data", "art")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			skipOrFail(t, "art image set (shared/data/art) not found; set ARTAUTH_ART_DIR")
			return ""
		}
		dir = parent
	}
}

// globSorted returns the sorted matches of pattern under the art directory.
func globSorted(t testing.TB, pattern string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(artDir(t), pattern))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

// largestFiles returns the n images with the most pixels matching pattern,
// at most one per directory.
func largestFiles(t testing.TB, pattern string, n int) []string {
	t.Helper()
	files := globSorted(t, pattern)
	size := map[string]int{}
	for _, f := range files {
		info, err := Probe(readFile(t, f), Limits{})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		size[f] = info.Width * info.Height
	}
	sort.SliceStable(files, func(i, j int) bool { return size[files[i]] > size[files[j]] })
	var out []string
	seen := map[string]bool{}
	for _, f := range files {
		if d := filepath.Dir(f); !seen[d] {
			seen[d] = true
			out = append(out, f)
		}
		if len(out) == n {
			break
		}
	}
	return out
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// requireTorch skips (or fails under CI=true) unless /usr/bin/python3 can
// import torch and torchvision.
func requireTorch(t testing.TB) {
	t.Helper()
	out, err := exec.Command(pythonTorch, "-c",
		"import torch, torchvision, PIL; "+
			"print(torch.__version__, torchvision.__version__, PIL.__version__)").
		CombinedOutput()
	if err != nil {
		skipOrFail(t, "%s cannot import torch/torchvision: %v: %s", pythonTorch, err,
			strings.TrimSpace(string(out)))
	}
	t.Logf("reference: torch, torchvision, Pillow = %s", strings.TrimSpace(string(out)))
}

// sentinelCount returns how many of the package's sentinels err wraps.
func sentinelCount(err error) int {
	n := 0
	for _, s := range []error{ErrUnsupportedFormat, ErrTooLarge, ErrCorrupt} {
		if errors.Is(err, s) {
			n++
		}
	}
	return n
}

var big24 struct {
	once sync.Once
	data []byte
	err  error
}

// bigJPEG returns a 24-megapixel (6000×4000) JPEG made from real paintings:
// the six largest paintings of the set (one per artist) stretched into a
// 3×2 mosaic of 2000×2000 tiles with ResizeBilinear (factors 0.9–2.2, so
// brush strokes and hard edges survive), plus mild deterministic noise (±6
// levels, like sensor noise or canvas grain), encoded by image/jpeg at
// quality 90 (4:2:0 baseline). Built once per process.
func bigJPEG(t testing.TB) []byte {
	t.Helper()
	srcs := largestFiles(t, "other_artists/*/*.jpg", 6)
	big24.once.Do(func() {
		const tile = 2000
		rgba := image.NewRGBA(image.Rect(0, 0, 3*tile, 2*tile))
		rng := rand.New(rand.NewPCG(1, 2))
		for i, p := range srcs {
			img, _, err := DecodeRGB(readFile(t, p), Limits{}, Options{}, image.Point{})
			if err != nil {
				big24.err = err
				return
			}
			up := ResizeBilinear(img, tile, tile)
			x0, y0 := (i%3)*tile, (i/3)*tile
			for y := 0; y < tile; y++ {
				for x := 0; x < tile; x++ {
					s := up.Pix[y*up.Stride+3*x:]
					d := rgba.Pix[rgba.PixOffset(x0+x, y0+y):]
					for c := 0; c < 3; c++ {
						v := int(s[c]) + rng.IntN(13) - 6
						d[c] = uint8(min(max(v, 0), 255))
					}
					d[3] = 255
				}
			}
		}
		var buf bytes.Buffer
		big24.err = jpeg.Encode(&buf, rgba, &jpeg.Options{Quality: 90})
		big24.data = buf.Bytes()
	})
	if big24.err != nil {
		t.Fatal(big24.err)
	}
	return big24.data
}
