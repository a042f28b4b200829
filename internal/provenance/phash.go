package provenance

import (
	"math"
	"math/bits"
	"sort"

	"github.com/artauth/artauth/internal/imaging"
)

// NearDuplicateDistance is the largest Hamming distance between two PHash
// values (of 64 bits) at which two images should be treated as copies of
// the same picture. Measured on the 855 images of the shared art data set
// (SIGNALS.md, TestNearDuplicateThreshold): a JPEG quality 75 re-encode, a
// 90% resize, and both, moved no image by more than 4; the closest two
// distinct images are 12 apart (7 of 365,085 pairs, among them different
// Monet paintings of the same motif). 8 sits between the two. Crops are
// not covered: cutting 5% off each side moves PHash by 10 (median), up to
// 24, beyond this threshold.
const NearDuplicateDistance = 8

// Distance returns the Hamming distance between two 64-bit hashes: the
// number of differing bits, 0 to 64.
func Distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

// Distance returns the Hamming distance between h and o.
func (h Hash64) Distance(o Hash64) int { return Distance(uint64(h), uint64(o)) }

// PHash returns the 64-bit DCT perceptual hash of img: the image is resized
// to 32×32 (imaging.ResizeBilinear, aspect ratio not kept) and converted to
// luma (ITU-R 601: 0.299 R + 0.587 G + 0.114 B), a 2-D DCT-II is taken, and
// each of the 8×8 lowest-frequency coefficients (DC included, row-major,
// first coefficient in the most significant bit) gives a 1 bit when it is
// greater than the median of the 64. This is the construction of the
// Python imagehash library's phash; bit values differ from it because the
// resampling filter differs.
func PHash(img *imaging.RGB) uint64 {
	const n, k = 32, 8
	g := luma(resize(img, n, n))
	d := dct2(g, n, k)
	sorted := append([]float64(nil), d...)
	sort.Float64s(sorted)
	med := (sorted[len(sorted)/2-1] + sorted[len(sorted)/2]) / 2
	var h uint64
	for _, v := range d {
		h <<= 1
		if v > med {
			h |= 1
		}
	}
	return h
}

// DHash returns the 64-bit difference hash of img: the image is resized to
// 9×8 (imaging.ResizeBilinear) and converted to luma, and each of the 8×8
// horizontally adjacent pairs gives a 1 bit when the right pixel is
// brighter than the left (row-major, first pair in the most significant
// bit), as in the Python imagehash library's dhash.
func DHash(img *imaging.RGB) uint64 {
	g := luma(resize(img, 9, 8))
	var h uint64
	for y := 0; y < 8; y++ {
		for x := 0; x < 8; x++ {
			h <<= 1
			if g[y*9+x+1] > g[y*9+x] {
				h |= 1
			}
		}
	}
	return h
}

// resize returns img at w×h, or img itself when it already has that size.
func resize(img *imaging.RGB, w, h int) *imaging.RGB {
	if img.Width == w && img.Height == h {
		return img
	}
	return imaging.ResizeBilinear(img, w, h)
}

// luma returns the ITU-R 601 luma of img, row-major, in 0..255.
func luma(img *imaging.RGB) []float64 {
	g := make([]float64, img.Width*img.Height)
	for y := 0; y < img.Height; y++ {
		row := img.Pix[y*img.Stride:]
		for x := 0; x < img.Width; x++ {
			p := row[3*x : 3*x+3]
			g[y*img.Width+x] = 0.299*float64(p[0]) + 0.587*float64(p[1]) +
				0.114*float64(p[2])
		}
	}
	return g
}

// dct2 returns the k×k lowest-frequency coefficients (row-major) of the
// unnormalised 2-D DCT-II of the n×n image g.
func dct2(g []float64, n, k int) []float64 {
	cos := make([]float64, k*n)
	for u := 0; u < k; u++ {
		for x := 0; x < n; x++ {
			cos[u*n+x] = math.Cos(math.Pi * float64(u) * (2*float64(x) + 1) / float64(2*n))
		}
	}
	rows := make([]float64, n*k) // DCT along x: rows[y*k+u]
	for y := 0; y < n; y++ {
		for u := 0; u < k; u++ {
			s := 0.0
			for x := 0; x < n; x++ {
				s += g[y*n+x] * cos[u*n+x]
			}
			rows[y*k+u] = s
		}
	}
	out := make([]float64, k*k) // out[v*k+u]
	for v := 0; v < k; v++ {
		for u := 0; u < k; u++ {
			s := 0.0
			for y := 0; y < n; y++ {
				s += rows[y*k+u] * cos[v*n+y]
			}
			out[v*k+u] = s
		}
	}
	return out
}
