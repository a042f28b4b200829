package provenance

import (
	"os"
	"testing"

	"github.com/artauth/artauth/internal/testenv"
)

// BenchmarkExtract measures Extract on a 256×256 Monet JPEG.
func BenchmarkExtract(b *testing.B) {
	data, err := os.ReadFile(testenv.ArtImages(b, "monet", 1)[0])
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Extract(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExtractLarge measures Extract on the largest painting of the
// data set (2163 px wide), decoded through the DCT-scaled path.
func BenchmarkExtractLarge(b *testing.B) {
	files := testenv.ArtImages(b, "other_artists/childe_hassam", 0)
	var data []byte
	for _, f := range files {
		d, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		if len(d) > len(data) {
			data = d
		}
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Extract(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpectralScore measures the spectral score alone at 256×256.
func BenchmarkSpectralScore(b *testing.B) {
	data, err := os.ReadFile(testenv.ArtImages(b, "monet", 1)[0])
	if err != nil {
		b.Fatal(err)
	}
	img := decodeArt(b, data)
	for b.Loop() {
		SpectralScore(img)
	}
}

// BenchmarkMetadataOnly measures Extract without pixel decoding.
func BenchmarkMetadataOnly(b *testing.B) {
	data, err := os.ReadFile(testenv.ArtImages(b, "monet", 1)[0])
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ExtractWith(data, Options{MetadataOnly: true}); err != nil {
			b.Fatal(err)
		}
	}
}
