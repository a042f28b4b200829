package imaging

import (
	"image"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// preprocessDenom is Preprocess for a JPEG with the IDCT scale forced to
// 1/denom.
func preprocessDenom(t testing.TB, data []byte, spec Spec, denom int) []float32 {
	t.Helper()
	jh, err := parseJPEG(data, true)
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := decodeJPEG(data, jh, denom, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := ResizeBilinear(&img, spec.Width, spec.Height)
	dst := make([]float32, 3*spec.Width*spec.Height)
	spec.Normalize(out, dst)
	return dst
}

// levels converts a tensor difference to 8-bit levels (std 0.224, the
// middle channel's).
func levels(d float64) float64 { return d * 0.224 * 255 }

func TestScaleDenom(t *testing.T) {
	tg := image.Pt(224, 224)
	for _, c := range []struct{ w, h, ratio, want int }{
		{6000, 4000, 0, 4},  // 1500x1000 >= 896; 750x500 is not
		{6000, 4000, 2, 8},  // 750x500 >= 448
		{8688, 5792, 0, 4},  // 50 MP: 2172x1448
		{5472, 3648, 0, 4},  // 20 MP: 1368x912
		{2163, 1628, 0, 1},  // too small for ratio 4
		{2163, 1628, 2, 2},  // 1082x814
		{256, 256, 2, 1},    // no reduction
		{6000, 4000, -3, 8}, // below 1 acts as 1: 750x500 >= 224
		{100000, 10, 1, 1},  // one dimension too small
		{1792, 1792, 1, 8},  // exactly 224 at 1/8
		{1785, 1785, 1, 8},  // ceil(1785/8) = 224 still
		{1784, 1784, 1, 4},  // 1784/8 = 223
	} {
		if got := scaleDenom(c.w, c.h, tg, c.ratio); turboAvailable && got != c.want {
			t.Errorf("scaleDenom(%dx%d, ratio %d) = %d, want %d", c.w, c.h, c.ratio, got, c.want)
		}
	}
}

// TestFastPath24MP compares the fast (DCT-scaled) path with the exact path
// on a 6000×4000 JPEG of real paintings (bigJPEG). Measured with
// libjpeg-turbo 2.1.5: the default ratio 4 decodes at 1/4 and gives a
// tensor max |diff| of 0.035 (2 levels) and mean 0.0024 (0.14 levels);
// ratio 2 decodes at 1/8: max 0.12 (7 levels), mean 0.006 (0.35 levels).
// The asserted bounds are about 1.5× those, tight enough to catch a wrong
// scale, channel order or resize alignment.
func TestFastPath24MP(t *testing.T) {
	if !turboAvailable {
		t.Skip("fast path needs libjpeg-turbo (cgo)")
	}
	data := bigJPEG(t)
	path := filepath.Join(t.TempDir(), "big24mp.jpg")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	data = readFile(t, path)
	spec := ImageNetSpec(224, 224)
	exact := make([]float32, 3*224*224)
	info, err := Preprocess(data, spec, Limits{}, Options{}, exact)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ratio, denom     int
		maxBound, meanBd float64
	}{{0, 4, 0.055, 0.004}, {2, 8, 0.18, 0.009}} {
		opt := Options{FastScaledDecode: true, FastMinRatio: c.ratio}
		fast := make([]float32, 3*224*224)
		if _, err := Preprocess(data, spec, Limits{}, opt, fast); err != nil {
			t.Fatal(err)
		}
		if d := scaleDenom(info.Width, info.Height, image.Pt(224, 224), c.ratio); d != c.denom {
			t.Fatalf("ratio %d: scale 1/%d, want 1/%d", c.ratio, d, c.denom)
		}
		forced := preprocessDenom(t, data, spec, c.denom)
		if m, _, n := floatDiff(fast, forced); n != 0 {
			t.Fatalf("ratio %d: Preprocess differs from a 1/%d decode (max %g)",
				c.ratio, c.denom, m)
		}
		maxd, mean, n := floatDiff(exact, fast)
		t.Logf("%dx%d, %d bytes, FastMinRatio %d -> 1/%d: max |diff| %.4f (%.1f levels), "+
			"mean %.5f (%.2f levels), %d of %d values differ", info.Width, info.Height,
			len(data), c.ratio, c.denom, maxd, levels(maxd), mean, levels(mean), n, len(exact))
		if maxd > c.maxBound || mean > c.meanBd {
			t.Errorf("ratio %d: fast path too far from exact: max %.4f (bound %g), "+
				"mean %.5f (bound %g)", c.ratio, maxd, c.maxBound, mean, c.meanBd)
		}
	}
	m, a, _ := floatDiff(exact, preprocessDenom(t, data, spec, 2))
	t.Logf("  forced 1/2: max |diff| %.4f (%.1f levels), mean %.5f (%.2f levels)",
		m, levels(m), a, levels(a))
}

// TestFastPathRealPaintings reports the fast path's deviation on the
// largest real paintings at FastMinRatio 2 (their size allows only 1/2
// scale, at ratios 2.5–4.8), where hard edges and fine brushwork are real
// rather than upscaled. Measured: max |diff| up to 0.53 (30 levels, at a
// sharp colour edge), mean up to 0.020 (1.1 levels) — the reason the
// default ratio is 4 (which leaves these images on the exact path).
func TestFastPathRealPaintings(t *testing.T) {
	if !turboAvailable {
		t.Skip("fast path needs libjpeg-turbo (cgo)")
	}
	spec := ImageNetSpec(224, 224)
	worstMax, worstMean := 0.0, 0.0
	for _, p := range largestFiles(t, "other_artists/*/*.jpg", 6) {
		data := readFile(t, p)
		info, err := Probe(data, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		exact := make([]float32, 3*224*224)
		fast := make([]float32, 3*224*224)
		if _, err := Preprocess(data, spec, Limits{}, Options{}, exact); err != nil {
			t.Fatal(err)
		}
		opt := Options{FastScaledDecode: true}
		if _, err := Preprocess(data, spec, Limits{}, opt, fast); err != nil {
			t.Fatal(err)
		}
		if _, _, n := floatDiff(exact, fast); n != 0 {
			t.Errorf("%s: default fast path should keep %dx%d exact", p, info.Width, info.Height)
		}
		opt.FastMinRatio = 2
		if _, err := Preprocess(data, spec, Limits{}, opt, fast); err != nil {
			t.Fatal(err)
		}
		d := scaleDenom(info.Width, info.Height, image.Pt(224, 224), 2)
		m, a, _ := floatDiff(exact, fast)
		t.Logf("%-36s %4dx%-4d ratio 2 -> 1/%d: max |diff| %.4f (%.1f levels), mean %.5f",
			trunc(filepath.Base(p), 36), info.Width, info.Height, d, m, levels(m), a)
		worstMax, worstMean = math.Max(worstMax, m), math.Max(worstMean, a)
	}
	if worstMax > 0.8 || worstMean > 0.03 {
		t.Errorf("fast path too far from exact on paintings: max %.4f, mean %.5f",
			worstMax, worstMean)
	}
}
