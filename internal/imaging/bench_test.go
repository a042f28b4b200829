package imaging

import (
	"bytes"
	"image"
	"image/jpeg"
	"testing"
)

// BenchmarkPreprocess24MP times, on the same 6000×4000 JPEG (bigJPEG):
// the exact path (full libjpeg-turbo decode + PIL resize + normalize), the
// fast path (DCT-scaled decode: 1/4 at the default ratio 4, 1/8 at ratio
// 2), the fast path forced to 1/2, the exact decode alone, the resize
// alone, and Go's image/jpeg full decode alone (baseline).
func BenchmarkPreprocess24MP(b *testing.B) {
	data := bigJPEG(b)
	spec := ImageNetSpec(224, 224)
	dst := make([]float32, 3*spec.Width*spec.Height)
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/op")
	}
	pre := func(opt Options) func(*testing.B) {
		return func(b *testing.B) {
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				if _, err := Preprocess(data, spec, Limits{}, opt, dst); err != nil {
					b.Fatal(err)
				}
			}
			report(b)
		}
	}
	b.Run("exact", pre(Options{}))
	b.Run("fast_default_1_4", pre(Options{FastScaledDecode: true}))
	b.Run("fast_ratio2_1_8", pre(Options{FastScaledDecode: true, FastMinRatio: 2}))
	jh, err := parseJPEG(data, true)
	if err != nil {
		b.Fatal(err)
	}
	for _, d := range []struct {
		name  string
		denom int
	}{{"fast_forced_1_2", 2}, {"decode_only_turbo_full", 1}} {
		b.Run(d.name, func(b *testing.B) {
			var buf []byte
			var r resizer
			out := RGB{Pix: make([]byte, 3*224*224), Stride: 3 * 224, Width: 224, Height: 224}
			for b.Loop() {
				var img RGB
				img, buf, err = decodeJPEG(data, jh, d.denom, buf)
				if err != nil {
					b.Fatal(err)
				}
				if d.denom != 1 {
					r.resizeInto(&out, &img)
					spec.Normalize(&out, dst)
				}
			}
			report(b)
		})
	}
	b.Run("stdlib_image_jpeg_decode_only", func(b *testing.B) {
		for b.Loop() {
			if _, err := jpeg.Decode(bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	img, _, err := DecodeRGB(data, Limits{}, Options{}, image.Point{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("resize_only_24MP_to_224", func(b *testing.B) {
		var r resizer
		out := RGB{Pix: make([]byte, 3*224*224), Stride: 3 * 224, Width: 224, Height: 224}
		for b.Loop() {
			r.resizeInto(&out, img)
		}
		report(b)
	})
}

// BenchmarkPreprocessMonet256 times the common case: a 256×256 painting.
func BenchmarkPreprocessMonet256(b *testing.B) {
	data := readFile(b, globSorted(b, "monet/*.jpg")[0])
	spec := ImageNetSpec(224, 224)
	dst := make([]float32, 3*224*224)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Preprocess(data, spec, Limits{}, Options{}, dst); err != nil {
			b.Fatal(err)
		}
	}
}
