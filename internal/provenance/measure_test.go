package provenance

import (
	"bytes"
	"encoding/csv"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/testenv"
)

// measureAll reports whether the heavier measurements run on every image
// (ARTAUTH_MEASURE=1) rather than on a sample.
func measureAll() bool { return os.Getenv("ARTAUTH_MEASURE") != "" }

// The data set's generator folders.
const (
	genResNet = "ai_monet_style/cyclegan-resnet_kaggle-exp2_konstantine25b"
	genUNet   = "ai_monet_style/cyclegan-unet-ngf16_kaggle-exp4_konstantine25b"
	genS2P    = "ai_monet_style/stylepix2pix-monet-label_jrtaloma"
	genVG     = "ai_other_style/stylepix2pix-vangogh-label_jrtaloma"
)

// artImage is one data-set image with its signals.
type artImage struct {
	class, name string
	data        []byte
	sig         Signals
}

var (
	artOnce sync.Once
	artSet  []artImage
	artErr  error
)

// loadArt extracts the signals of every image of the data set (the files
// listed in its manifest.csv) once per test binary.
func loadArt(t *testing.T) []artImage {
	t.Helper()
	dir := testenv.ArtDir(t)
	artOnce.Do(func() {
		f, err := os.Open(filepath.Join(dir, "manifest.csv"))
		if err != nil {
			artErr = err
			return
		}
		defer f.Close()
		rows, err := csv.NewReader(f).ReadAll()
		if err != nil || len(rows) < 2 || rows[0][0] != "relpath" {
			artErr = fmt.Errorf("manifest.csv: %d rows, header %v: %v", len(rows), rows[:1],
				err)
			return
		}
		for _, row := range rows[1:] {
			rel := row[0]
			data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
			if err != nil {
				artErr = err
				return
			}
			sig, err := Extract(data)
			if err != nil {
				artErr = fmt.Errorf("%s: %w", rel, err)
				return
			}
			artSet = append(artSet, artImage{class: path.Dir(rel), name: path.Base(rel),
				data: data, sig: sig})
		}
	})
	if artErr != nil {
		t.Fatal(artErr)
	}
	if len(artSet) != 855 {
		t.Fatalf("found %d data-set images under %s, want 855", len(artSet), dir)
	}
	return artSet
}

// classOf returns the images whose class (folder) starts with prefix.
func classOf(set []artImage, prefix string) []artImage {
	var out []artImage
	for _, a := range set {
		if a.class == prefix || strings.HasPrefix(a.class, prefix+"/") {
			out = append(out, a)
		}
	}
	return out
}

// auc is the probability that a random positive scores above a random
// negative (ties count half): the area under the ROC curve.
func auc(pos, neg []float64) float64 {
	c := 0.0
	for _, p := range pos {
		for _, q := range neg {
			switch {
			case p > q:
				c++
			case p == q:
				c += 0.5
			}
		}
	}
	return c / float64(len(pos)*len(neg))
}

// aucInterval returns the 2.5% and 97.5% quantiles of the AUC over 400
// bootstrap resamples (each class resampled with replacement).
func aucInterval(pos, neg []float64) (lo, hi float64) {
	r := rand.New(rand.NewPCG(7, 11))
	const n = 400
	res := make([]float64, n)
	p, q := make([]float64, len(pos)), make([]float64, len(neg))
	for i := range res {
		for k := range p {
			p[k] = pos[r.IntN(len(pos))]
		}
		for k := range q {
			q[k] = neg[r.IntN(len(neg))]
		}
		res[i] = auc(p, q)
	}
	sort.Float64s(res)
	return res[n*25/1000], res[n*975/1000]
}

// bestThreshold returns the threshold (score > thr means positive) that
// maximises the accuracy, with that accuracy, and the best balanced
// accuracy (mean of the two recalls) with its own threshold.
func bestThreshold(pos, neg []float64) (thr, acc, balThr, bal float64) {
	all := append(append([]float64(nil), pos...), neg...)
	sort.Float64s(all)
	cands := []float64{all[0] - 1}
	for i := range all {
		if i+1 < len(all) && all[i+1] > all[i] {
			cands = append(cands, (all[i]+all[i+1])/2)
		}
	}
	cands = append(cands, all[len(all)-1]+1)
	acc, bal = -1, -1
	for _, c := range cands {
		tp, tn := 0, 0
		for _, p := range pos {
			if p > c {
				tp++
			}
		}
		for _, q := range neg {
			if q <= c {
				tn++
			}
		}
		a := float64(tp+tn) / float64(len(pos)+len(neg))
		b := (float64(tp)/float64(len(pos)) + float64(tn)/float64(len(neg))) / 2
		if a > acc {
			thr, acc = c, a
		}
		if b > bal {
			balThr, bal = c, b
		}
	}
	return thr, acc, balThr, bal
}

// encodeJPEG encodes img with Go's encoder at quality q.
func encodeJPEG(t testing.TB, img image.Image, q int) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: q}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// pngBuffers reuses the PNG encoder's buffers (its zlib writer is large).
type pngBuffers struct{ p sync.Pool }

func (b *pngBuffers) Get() *png.EncoderBuffer {
	v, _ := b.p.Get().(*png.EncoderBuffer)
	return v
}

func (b *pngBuffers) Put(v *png.EncoderBuffer) { b.p.Put(v) }

var pngPool pngBuffers

// encodePNG encodes img losslessly.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed, BufferPool: &pngPool}
	if err := enc.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// decodeArt decodes data to RGB.
func decodeArt(t testing.TB, data []byte) *imaging.RGB {
	t.Helper()
	rgb, _, err := imaging.DecodeRGB(data, imaging.DefaultLimits(), imaging.Options{},
		image.Point{})
	if err != nil {
		t.Fatal(err)
	}
	return rgb
}

// crop returns the centre of img without frac of each side.
func crop(img *imaging.RGB, frac float64) *imaging.RGB {
	dx, dy := int(float64(img.Width)*frac), int(float64(img.Height)*frac)
	w, h := img.Width-2*dx, img.Height-2*dy
	out := imaging.NewRGB(w, h)
	for y := 0; y < h; y++ {
		copy(out.Pix[y*out.Stride:(y+1)*out.Stride],
			img.Pix[(y+dy)*img.Stride+3*dx:])
	}
	return out
}

// TestNearDuplicateThreshold measures PHash and DHash distances between
// distinct images of the data set and between images and edited copies,
// and checks NearDuplicateDistance against them. With ARTAUTH_MEASURE=1 it
// edits every image, else 10 of each class.
func TestNearDuplicateThreshold(t *testing.T) {
	set := loadArt(t)

	// Distinct images: every pair.
	type pair struct {
		d    int
		a, b int
	}
	var pairs []pair
	hist := map[string][]int{"phash": make([]int, 65), "dhash": make([]int, 65)}
	for i := range set {
		for j := i + 1; j < len(set); j++ {
			d := set[i].sig.PHash.Distance(set[j].sig.PHash)
			hist["phash"][d]++
			hist["dhash"][set[i].sig.DHash.Distance(set[j].sig.DHash)]++
			if d <= 16 {
				pairs = append(pairs, pair{d, i, j})
			}
		}
	}
	sort.Slice(pairs, func(a, b int) bool { return pairs[a].d < pairs[b].d })
	npairs := len(set) * (len(set) - 1) / 2
	for _, kind := range []string{"phash", "dhash"} {
		cum, line := 0, ""
		for d := 0; d <= 20; d++ {
			cum += hist[kind][d]
			if d == 4 || d == 6 || d == 8 || d == 10 || d == 12 || d == 16 || d == 20 {
				line += fmt.Sprintf(" <=%d:%d", d, cum)
			}
		}
		minD := 0
		for minD < 64 && hist[kind][minD] == 0 {
			minD++
		}
		t.Logf("%s distinct pairs (%d images, %d pairs): min %d; cumulative%s", kind,
			len(set), npairs, minD, line)
	}
	for _, p := range pairs[:min(len(pairs), 12)] {
		t.Logf("close distinct pair phash %2d dhash %2d: %s/%s ~ %s/%s", p.d,
			set[p.a].sig.DHash.Distance(set[p.b].sig.DHash), set[p.a].class, set[p.a].name,
			set[p.b].class, set[p.b].name)
	}

	// Edited copies.
	edits := []struct {
		name  string
		apply func(*imaging.RGB) []byte
		gate  bool // counts towards the threshold
	}{
		{"jpeg q75 re-encode", func(m *imaging.RGB) []byte { return encodeJPEG(t, m, 75) }, true},
		{"resize 90% (png)", func(m *imaging.RGB) []byte {
			return encodePNG(t, imaging.ResizeBilinear(m, m.Width*9/10, m.Height*9/10))
		}, true},
		{"resize 90% + jpeg q75", func(m *imaging.RGB) []byte {
			return encodeJPEG(t, imaging.ResizeBilinear(m, m.Width*9/10, m.Height*9/10), 75)
		}, true},
		{"crop 5% each side (info)", func(m *imaging.RGB) []byte {
			return encodePNG(t, crop(m, 0.05))
		}, false},
	}
	perClass := map[string]int{}
	worst := 0
	for _, e := range edits {
		if !e.gate && !measureAll() {
			continue // informative only; run with ARTAUTH_MEASURE=1
		}
		var dp, dd []int
		for _, a := range set {
			top := strings.SplitN(a.class, "/", 2)[0]
			if !measureAll() && perClass[e.name+top] >= 10 {
				continue
			}
			perClass[e.name+top]++
			sig, err := Extract(e.apply(decodeArt(t, a.data)))
			if err != nil {
				t.Fatal(err)
			}
			dp = append(dp, sig.PHash.Distance(a.sig.PHash))
			dd = append(dd, sig.DHash.Distance(a.sig.DHash))
		}
		sort.Ints(dp)
		sort.Ints(dd)
		t.Logf("%-26s n=%d phash: median %d, p95 %d, max %d | dhash: median %d, p95 %d, "+
			"max %d", e.name, len(dp), dp[len(dp)/2], dp[len(dp)*95/100], dp[len(dp)-1],
			dd[len(dd)/2], dd[len(dd)*95/100], dd[len(dd)-1])
		if e.gate {
			worst = max(worst, dp[len(dp)-1])
		}
	}
	if worst > NearDuplicateDistance {
		t.Errorf("an edited copy is at PHash distance %d, over NearDuplicateDistance %d",
			worst, NearDuplicateDistance)
	}
	// Measured: the closest distinct images are 12 apart (SIGNALS.md).
	for d := 0; d <= NearDuplicateDistance+2; d++ {
		if hist["phash"][d] > 0 {
			t.Errorf("%d distinct pairs at PHash distance %d, within 2 of "+
				"NearDuplicateDistance %d", hist["phash"][d], d, NearDuplicateDistance)
		}
	}
}

// TestDataSetMetadata checks that the real files of the data set parse
// without warnings and that none claims AI generation (none carries such
// metadata; the AI images were saved by their authors without any).
func TestDataSetMetadata(t *testing.T) {
	set := loadArt(t)
	stripped, exif, xmp := 0, 0, 0
	for _, a := range set {
		s := a.sig
		if len(s.Warnings) > 0 || len(s.AIClaims()) > 0 || !s.Decoded {
			t.Errorf("%s/%s: warnings %q, claims %+v, decoded %v", a.class, a.name,
				s.Warnings, s.AIClaims(), s.Decoded)
		}
		if s.MetadataStripped {
			stripped++
		}
		if s.EXIF.Present {
			exif++
		}
		if s.XMP.Present {
			xmp++
		}
	}
	t.Logf("data set: %d of %d files carry no EXIF, XMP, C2PA or PNG text; %d have EXIF, "+
		"%d XMP", stripped, len(set), exif, xmp)
	if stripped < 800 {
		t.Errorf("only %d stripped files, measured 821", stripped)
	}
}

// TestSpectralScoreMeasured measures SpectralScore (computed by Extract at
// 256×256) on each AI generator of the data set against Monet paintings and
// photos, and checks the AUCs against floors set below the measured values.
// Run with -v to see the figures (SIGNALS.md).
func TestSpectralScoreMeasured(t *testing.T) {
	set := loadArt(t)
	scores := func(prefix string) []float64 {
		var out []float64
		for _, a := range classOf(set, prefix) {
			out = append(out, a.sig.Spectral)
		}
		if len(out) == 0 {
			t.Fatalf("no images in %s", prefix)
		}
		return out
	}
	type cmp struct {
		pos, neg string
		floor    float64 // AUC floor (measured minus a margin); 0: report only
	}
	cmps := []cmp{
		{genResNet, "monet", 0.82},
		{genUNet, "monet", 0.58},
		{genS2P, "monet", 0.65},
		{"ai_monet_style", "monet", 0.70},
		{genResNet, "photo", 0.80},
		{genUNet, "photo", 0.55},
		{genS2P, "photo", 0.62},
		{"ai_monet_style", "photo", 0.68},
		{genVG, "other_artists/vincent_van_gogh", 0},
		{"ai_monet_style", "other_artists", 0},
		{"monet", "photo", 0},
	}
	for _, c := range cmps {
		pos, neg := scores(c.pos), scores(c.neg)
		a := auc(pos, neg)
		lo, hi := aucInterval(pos, neg)
		thr, acc, bthr, bal := bestThreshold(pos, neg)
		t.Logf("%-62s vs %-30s n=%3d/%3d AUC %.3f [%.2f, %.2f]  best acc %.3f (thr %.3f)  "+
			"best balanced acc %.3f (thr %.3f)", c.pos, c.neg, len(pos), len(neg), a, lo, hi,
			acc, thr, bal, bthr)
		if c.floor > 0 && a < c.floor {
			t.Errorf("%s vs %s: AUC %.3f under the floor %.2f", c.pos, c.neg, a, c.floor)
		}
	}
	for _, cl := range []string{"monet", "photo", genResNet, genUNet, genS2P,
		"other_artists/vincent_van_gogh", genVG} {
		s := scores(cl)
		sort.Float64s(s)
		t.Logf("%-62s spectral score: median %.3f, IQR %.3f..%.3f", cl, s[len(s)/2],
			s[len(s)/4], s[len(s)*3/4])
	}
	if !measureAll() {
		return
	}
	// Robustness: score every image again after a second JPEG quality 75
	// re-encode, after a 90% resize, and after a 2× upscale (each then
	// brought back to 256×256 by SpectralScore).
	transforms := []struct {
		name string
		f    func(*imaging.RGB) *imaging.RGB
	}{
		{"second q75 re-encode", func(m *imaging.RGB) *imaging.RGB {
			return decodeArt(t, encodeJPEG(t, m, 75))
		}},
		{"90% resize", func(m *imaging.RGB) *imaging.RGB {
			return imaging.ResizeBilinear(m, m.Width*9/10, m.Height*9/10)
		}},
		{"2x upscale", func(m *imaging.RGB) *imaging.RGB {
			return imaging.ResizeBilinear(m, m.Width*2, m.Height*2)
		}},
	}
	for _, tr := range transforms {
		scored := map[string][]float64{}
		for _, cl := range []string{"monet", "photo", genResNet, genUNet, genS2P} {
			for _, a := range classOf(set, cl) {
				scored[cl] = append(scored[cl], SpectralScore(tr.f(decodeArt(t, a.data))))
			}
		}
		for _, c := range cmps {
			if scored[c.pos] == nil || scored[c.neg] == nil {
				continue
			}
			t.Logf("after %-20s %-62s vs %-6s AUC %.3f", tr.name+":", c.pos, c.neg,
				auc(scored[c.pos], scored[c.neg]))
		}
	}
}
