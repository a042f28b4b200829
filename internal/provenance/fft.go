package provenance

import (
	"math"
	"math/bits"
	"math/cmplx"
)

// fftPlan holds the twiddle factors of an n-point radix-2 FFT.
type fftPlan struct {
	n     int
	shift uint
	tw    []complex128 // tw[k] = exp(-2πik/n), k < n/2
}

// newFFTPlan returns the plan for n, a power of two.
func newFFTPlan(n int) *fftPlan {
	p := &fftPlan{n: n, shift: 64 - uint(bits.TrailingZeros(uint(n))),
		tw: make([]complex128, n/2)}
	for k := range p.tw {
		s, c := math.Sincos(-2 * math.Pi * float64(k) / float64(n))
		p.tw[k] = complex(c, s)
	}
	return p
}

// spectralPlan is the plan for SpectralSize.
var spectralPlan = newFFTPlan(SpectralSize)

// transform computes the discrete Fourier transform of x (len n) in place.
func (p *fftPlan) transform(x []complex128) {
	n := p.n
	for i := range x {
		if j := int(bits.Reverse64(uint64(i)) >> p.shift); j > i {
			x[i], x[j] = x[j], x[i]
		}
	}
	for size := 2; size <= n; size <<= 1 {
		half, stride := size>>1, n/size
		for start := 0; start < n; start += size {
			for k := 0; k < half; k++ {
				a := x[start+k]
				b := x[start+k+half] * p.tw[k*stride]
				x[start+k] = a + b
				x[start+k+half] = a - b
			}
		}
	}
}

// powerColumns returns |F(u, v)|² of the n×n real image g (row-major) for
// the columns u in cols only, as out[i][v] for u = cols[i]; frequencies are
// not centred (index 0 is zero frequency). Rows are transformed two at a
// time (one as the real, one as the imaginary part), and only the wanted
// columns of the row spectra are kept.
func (p *fftPlan) powerColumns(g []float64, cols []int) [][]float64 {
	n := p.n
	colData := make([]complex128, len(cols)*n) // colData[i*n+y]: row y's F(cols[i])
	z := make([]complex128, n)
	for y := 0; y < n; y += 2 {
		for x := 0; x < n; x++ {
			z[x] = complex(g[y*n+x], g[(y+1)*n+x])
		}
		p.transform(z)
		for i, k := range cols {
			zk, zc := z[k], cmplx.Conj(z[(n-k)%n])
			colData[i*n+y] = (zk + zc) / 2
			colData[i*n+y+1] = (zk - zc) / complex(0, 2)
		}
	}
	out := make([][]float64, len(cols))
	for i := range cols {
		col := colData[i*n : (i+1)*n]
		p.transform(col)
		out[i] = make([]float64, n)
		for v, c := range col {
			out[i][v] = real(c)*real(c) + imag(c)*imag(c)
		}
	}
	return out
}
