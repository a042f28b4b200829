package imaging

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// refCase is one image checked against the Python reference.
type refCase struct {
	name, class, path string
}

// refOut is one line of torch_preprocess.py's "tensors" output.
type refOut struct {
	Index  int    `json:"index"`
	Path   string `json:"path"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
	Mode   string `json:"mode"`
}

func scriptPath(t *testing.T) string {
	p, err := filepath.Abs(filepath.Join("testdata", "torch_preprocess.py"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// runPython runs the reference script and returns its stdout lines.
func runPython(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command(pythonTorch, append([]string{scriptPath(t)}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", pythonTorch, args[0], err, stderr.String())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// referenceTensors runs the "tensors" mode for cases at the given sizes
// into a fresh directory and returns it with the per-image metadata.
func referenceTensors(t *testing.T, cases []refCase, sizes ...image.Point) (string, []refOut) {
	t.Helper()
	dir := t.TempDir()
	var sz []string
	for _, s := range sizes {
		sz = append(sz, fmt.Sprintf("%dx%d", s.X, s.Y))
	}
	args := []string{"tensors", dir, strings.Join(sz, ",")}
	for _, c := range cases {
		args = append(args, c.path)
	}
	var outs []refOut
	for _, l := range runPython(t, args...) {
		var o refOut
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("bad reference output %q: %v", l, err)
		}
		outs = append(outs, o)
	}
	if len(outs) != len(cases) {
		t.Fatalf("reference produced %d results for %d images", len(outs), len(cases))
	}
	return dir, outs
}

func readF32(t *testing.T, path string) []float32 {
	b := readFile(t, path)
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// byteDiff returns the largest absolute difference and the number of
// differing bytes (a and b must have equal length).
func byteDiff(a, b []byte) (maxd, n int) {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		if d > 0 {
			n++
			maxd = max(maxd, d)
		}
	}
	return maxd, n
}

func floatDiff(a, b []float32) (maxd, mean float64, n int) {
	sum := 0.0
	for i := range a {
		d := math.Abs(float64(a[i]) - float64(b[i]))
		sum += d
		if d > 0 {
			n++
			maxd = math.Max(maxd, d)
		}
	}
	return maxd, sum / float64(len(a)), n
}

// derivedCases makes images in formats the art set lacks: with PIL (PNG,
// WebP, TIFF, GIF, greyscale, CMYK and progressive JPEG, ...) from a Monet
// and the largest painting, and with Go's PNG encoder 16-bit RGB(A) PNGs
// (PIL cannot write those).
func derivedCases(t *testing.T, small, large string) []refCase {
	dir := t.TempDir()
	var cases []refCase
	for _, l := range runPython(t, "make", dir, small, large) {
		var o struct{ Name, Path string }
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("bad make output %q: %v", l, err)
		}
		class := "derived " + strings.SplitN(o.Name, "_", 2)[0]
		cases = append(cases, refCase{name: o.Name, class: class, path: o.Path})
	}

	img, _, err := DecodeRGB(readFile(t, large), Limits{}, Options{}, image.Point{})
	if err != nil {
		t.Fatal(err)
	}
	src := ResizeBilinear(img, 203, 157)
	rgb16 := image.NewRGBA64(image.Rect(0, 0, src.Width, src.Height))
	nrgba16 := image.NewNRGBA64(rgb16.Rect)
	for y := 0; y < src.Height; y++ {
		for x := 0; x < src.Width; x++ {
			p := src.Pix[y*src.Stride+3*x:]
			// Low bytes vary so that keeping the high byte is really tested.
			c := color.RGBA64{uint16(p[0])<<8 | uint16(x), uint16(p[1])<<8 | uint16(y),
				uint16(p[2])<<8 | uint16(x+y), 0xffff}
			rgb16.SetRGBA64(x, y, c)
			nrgba16.SetNRGBA64(x, y, color.NRGBA64{c.R, c.G, c.B, uint16(x * 300)})
		}
	}
	for name, m := range map[string]image.Image{"png_rgb16": rgb16, "png_rgba16": nrgba16} {
		var buf bytes.Buffer
		if err := png.Encode(&buf, m); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name+".png")
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		cases = append(cases, refCase{name: name, class: "derived png", path: p})
	}
	return cases
}

// TestTorchParity compares DecodeRGB, ResizeBilinear and Preprocess with
// PIL 9.4 + torchvision 0.14 on real paintings and derived images.
//
// All three must match exactly (0 differing bytes, tensor max |diff| 0):
// JPEG decoding uses the very libjpeg-turbo build and settings PIL uses, the
// resize is a port of PIL's integer algorithm (the float coefficient
// computation happens in the same IEEE double steps), and normalization
// repeats torch's float32 divide/subtract/divide. Any non-zero difference
// is therefore a real discrepancy, not rounding noise.
func TestTorchParity(t *testing.T) {
	requireTorch(t)
	monet := globSorted(t, "monet/*.jpg")
	large := largestFiles(t, "other_artists/*/*.jpg", 5)
	ai := globSorted(t, "ai_monet_style/*/*.jpg")
	photo := globSorted(t, "photo/*.jpg")
	if len(monet) < 4 || len(large) < 5 || len(ai) < 2 || len(photo) < 2 {
		t.Fatalf("art set incomplete: %d monet, %d large, %d ai, %d photo",
			len(monet), len(large), len(ai), len(photo))
	}
	var cases []refCase
	add := func(class string, paths ...string) {
		for _, p := range paths {
			cases = append(cases, refCase{name: filepath.Base(p), class: class, path: p})
		}
	}
	add("monet 256x256 jpeg", monet[:4]...)
	add("other_artists large jpeg", large...)
	add("ai_monet_style jpeg", ai[0], ai[len(ai)-1])
	add("photo jpeg", photo[0], photo[len(photo)-1])
	cases = append(cases, derivedCases(t, monet[0], large[0])...)
	bigPath := filepath.Join(t.TempDir(), "big24mp.jpg")
	if err := os.WriteFile(bigPath, bigJPEG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, refCase{name: "big24mp.jpg", class: "synthetic 6000x4000 jpeg",
		path: bigPath})

	spec := ImageNetSpec(224, 224)
	refDir, outs := referenceTensors(t, cases, image.Pt(spec.Width, spec.Height))
	type agg struct {
		n, decMax, rszMax int
		tMax              float64
	}
	classes := map[string]*agg{}
	var order []string
	for i, c := range cases {
		o := outs[i]
		data := readFile(t, c.path)
		dec, info, err := DecodeRGB(data, Limits{}, Options{}, image.Point{})
		if err != nil {
			t.Errorf("%s: DecodeRGB: %v", c.name, err)
			continue
		}
		if dec.Width != o.Width || dec.Height != o.Height || info.Width != o.Width {
			t.Errorf("%s: Go %dx%d, PIL %dx%d", c.name, dec.Width, dec.Height, o.Width, o.Height)
			continue
		}
		refRGB := readFile(t, fmt.Sprintf("%s/%d.rgb", refDir, i))
		decMax, decN := byteDiff(dec.Pix, refRGB)
		// The resize is checked on PIL's own decoded pixels, so that it is
		// tested independently of the decoder.
		pilDec := &RGB{Pix: refRGB, Stride: 3 * o.Width, Width: o.Width, Height: o.Height}
		rsz := ResizeBilinear(pilDec, spec.Width, spec.Height)
		rszMax, rszN := byteDiff(rsz.Pix, readFile(t, refPath(refDir, i, spec, "rsz")))
		tensor := make([]float32, 3*spec.Width*spec.Height)
		if _, err := Preprocess(data, spec, Limits{}, Options{}, tensor); err != nil {
			t.Errorf("%s: Preprocess: %v", c.name, err)
			continue
		}
		tMax, tMean, tN := floatDiff(tensor, readF32(t, refPath(refDir, i, spec, "f32")))
		t.Logf("%-26s %-22s %-5s %4dx%-4d decode max %d (%d bytes)  resize max %d (%d)  "+
			"tensor max %.3g mean %.3g (%d values)", c.class, trunc(c.name, 22), o.Mode,
			o.Width, o.Height, decMax, decN, rszMax, rszN, tMax, tMean, tN)
		if rszN != 0 {
			t.Errorf("%s: ResizeBilinear differs from PIL in %d bytes (max %d)",
				c.name, rszN, rszMax)
		}
		if info.Format == FormatJPEG && !turboAvailable {
			// Go's image/jpeg (no cgo) is not libjpeg-turbo: report only.
		} else if decN != 0 || tN != 0 {
			t.Errorf("%s (%s): differs from PIL/torchvision: decode %d bytes (max %d), "+
				"tensor %d values (max %.3g)", c.name, o.Mode, decN, decMax, tN, tMax)
		}
		a := classes[c.class]
		if a == nil {
			a = &agg{}
			classes[c.class] = a
			order = append(order, c.class)
		}
		a.n++
		a.decMax = max(a.decMax, decMax)
		a.rszMax = max(a.rszMax, rszMax)
		a.tMax = math.Max(a.tMax, tMax)
	}
	for _, k := range order {
		a := classes[k]
		t.Logf("class %-26s images %2d: max |diff| decode %d, resize %d, tensor %.3g",
			k, a.n, a.decMax, a.rszMax, a.tMax)
	}
}

// TestResizeParityOddSizes checks ResizeBilinear and the tensor at sizes
// that exercise upscaling, mixed up/down scaling and PIL's skipped pass
// (one dimension unchanged).
func TestResizeParityOddSizes(t *testing.T) {
	requireTorch(t)
	monet := globSorted(t, "monet/*.jpg")
	large := largestFiles(t, "other_artists/*/*.jpg", 2)
	cases := []refCase{
		{name: filepath.Base(monet[1]), path: monet[1]},
		{name: filepath.Base(large[1]), path: large[1]},
	}
	sizes := []image.Point{{300, 97}, {256, 100}, {100, 256}, {1000, 999}, {1, 1}}
	refDir, outs := referenceTensors(t, cases, sizes...)
	for _, sz := range sizes {
		spec := ImageNetSpec(sz.X, sz.Y)
		for i, c := range cases {
			data := readFile(t, c.path)
			o := outs[i]
			dec := &RGB{Pix: readFile(t, fmt.Sprintf("%s/%d.rgb", refDir, i)),
				Stride: 3 * o.Width, Width: o.Width, Height: o.Height}
			rsz := ResizeBilinear(dec, sz.X, sz.Y)
			rszMax, rszN := byteDiff(rsz.Pix, readFile(t, refPath(refDir, i, spec, "rsz")))
			tensor := make([]float32, 3*sz.X*sz.Y)
			if _, err := Preprocess(data, spec, Limits{}, Options{}, tensor); err != nil {
				t.Fatal(err)
			}
			tMax, _, tN := floatDiff(tensor, readF32(t, refPath(refDir, i, spec, "f32")))
			if !turboAvailable {
				tN = 0 // JPEG input: tensor exact only with libjpeg-turbo
			}
			t.Logf("%4dx%-4d -> %4dx%-4d resize max %d (%d bytes), tensor max %.3g (%d)",
				outs[i].Width, outs[i].Height, sz.X, sz.Y, rszMax, rszN, tMax, tN)
			if rszN != 0 || tN != 0 {
				t.Errorf("%s -> %v: resize %d bytes differ (max %d), tensor %d (max %.3g)",
					c.name, sz, rszN, rszMax, tN, tMax)
			}
		}
	}
}

// refPath names a reference output file of image i at spec's size.
func refPath(dir string, i int, spec Spec, ext string) string {
	return fmt.Sprintf("%s/%d.%dx%d.%s", dir, i, spec.Width, spec.Height, ext)
}

// trunc keeps the last n characters of s (file names differ at the end).
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-(n-3):]
}
