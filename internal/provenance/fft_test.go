package provenance

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// TestPowerColumnsMatchesDFT checks the FFT against a direct 2-D DFT.
func TestPowerColumnsMatchesDFT(t *testing.T) {
	const n = 16
	r := rand.New(rand.NewPCG(1, 2))
	g := make([]float64, n*n)
	for i := range g {
		g[i] = r.Float64()*255 - 100
	}
	cols := []int{0, 1, 5, 8, 15}
	got := newFFTPlan(n).powerColumns(g, cols)
	for i, u := range cols {
		for v := 0; v < n; v++ {
			var s complex128
			for y := 0; y < n; y++ {
				for x := 0; x < n; x++ {
					s += complex(g[y*n+x], 0) *
						cmplx.Exp(complex(0, -2*math.Pi*float64(u*x+v*y)/n))
				}
			}
			want := real(s)*real(s) + imag(s)*imag(s)
			if math.Abs(got[i][v]-want) > 1e-6*math.Max(1, want) {
				t.Fatalf("P(%d, %d) = %g, want %g", u, v, got[i][v], want)
			}
		}
	}
}
