package provenance

import (
	"bytes"
	"image/jpeg"
	"math"
	"os"
	"testing"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/testenv"
)

// TestSharedDecode checks the worker's path: pixel signals computed from the decode made for
// a model input equal Extract's own for images decoded at full scale by both, and stay
// within a bit or two of them for large JPEGs that the model's fast path decodes at a
// reduced scale.
func TestSharedDecode(t *testing.T) {
	spec := imaging.ImageNetSpec(224, 224)
	opt := imaging.Options{FastScaledDecode: true}
	for i, f := range testenv.ArtImages(t, "monet", 3) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		small := decodeArt(t, data)
		// The painting scaled up and saved as a JPEG. At 3072 both decodes run at 1/2 scale;
		// at 3800 the model's (target 224, ratio 4) runs at 1/4 and Extract's (256) at 1/2.
		for _, side := range []int{0, 3072, 3800} {
			img := data
			if side > 0 {
				var buf bytes.Buffer
				if err := jpeg.Encode(&buf, imaging.ResizeBilinear(small, side, side),
					&jpeg.Options{Quality: 92}); err != nil {
					t.Fatal(err)
				}
				img = buf.Bytes()
			}
			own, err := Extract(img)
			if err != nil {
				t.Fatal(err)
			}
			d, err := imaging.DecodeFor(img, spec, imaging.DefaultLimits(), opt)
			if err != nil {
				t.Fatal(err)
			}
			shared, err := ExtractWith(img, Options{Decoded: d})
			d.Release()
			if err != nil {
				t.Fatal(err)
			}
			if !shared.Decoded || shared.Width != own.Width || shared.Height != own.Height ||
				shared.SHA256 != own.SHA256 {
				t.Fatalf("image %d side %d: shared %+v, own %+v", i, side, shared, own)
			}
			dp, dd := own.PHash.Distance(shared.PHash), own.DHash.Distance(shared.DHash)
			ds := math.Abs(own.Spectral - shared.Spectral)
			t.Logf("image %d side %d: pHash %d bits, dHash %d bits, spectral |Δ| %.4f",
				i, side, dp, dd, ds)
			if side == 0 && (dp != 0 || dd != 0 || ds != 0) {
				t.Errorf("image %d at its own size: signals differ (pHash %d, dHash %d, "+
					"spectral %g) though both decoded it fully", i, dp, dd, ds)
			}
			if dp > 2 || dd > 4 {
				t.Errorf("image %d side %d: pHash %d bits, dHash %d bits from Extract's; "+
					"want at most 2 and 4 (near-duplicate threshold %d)", i, side, dp, dd,
					NearDuplicateDistance)
			}
		}
	}
}

// TestSharedDecodeEmpty: a Decoded without pixels is an error, not a panic or a hash of
// nothing.
func TestSharedDecodeEmpty(t *testing.T) {
	s, err := ExtractWith(monetJPEG(t), Options{Decoded: &imaging.Decoded{}})
	if err == nil || s.Decoded || s.DecodeError == "" {
		t.Fatalf("empty Decoded: err %v, signals %+v", err, s)
	}
}
