package imaging

import "math"

// PIL's fixed-point precision for 8-bit resampling: 32 bits minus 8 for the
// sample and 2 for sign and overflow headroom (Resample.c PRECISION_BITS).
const precisionBits = 32 - 8 - 2

// resampleCoeffs holds PIL's normalized integer filter coefficients for one
// axis: output position i reads in[bounds[2i] : bounds[2i]+bounds[2i+1]]
// weighted by k[i*ksize : i*ksize+bounds[2i+1]].
type resampleCoeffs struct {
	ksize  int
	bounds []int32
	k      []int32
}

// bilinearFilter is PIL's triangle filter (support 1).
func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

// precomputeCoeffs ports PIL 9.4 precompute_coeffs + normalize_coeffs_8bpc
// for the BILINEAR filter and the whole-image box (in0 = 0, in1 = inSize).
// fw is scratch for the double-precision weights of one output position.
// The float64 conversions keep each product rounded on its own, as the C
// code does (x86-64 gcc does not contract to FMA), even where the Go
// compiler would otherwise fuse a multiply-add.
func precomputeCoeffs(inSize, outSize int, c *resampleCoeffs, fw []float64) []float64 {
	scale := float64(inSize) / float64(outSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := 1.0 * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	c.ksize = ksize
	c.bounds = growInt32(c.bounds, 2*outSize)
	c.k = growInt32(c.k, outSize*ksize)
	if cap(fw) < ksize {
		fw = make([]float64, ksize)
	}
	fw = fw[:ksize]
	ss := 1.0 / filterscale
	for xx := 0; xx < outSize; xx++ {
		center := float64((float64(xx) + 0.5) * scale)
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			w := bilinearFilter(float64((float64(x+xmin) - center + 0.5) * ss))
			fw[x] = w
			ww += w
		}
		k := c.k[xx*ksize : (xx+1)*ksize]
		for x := 0; x < xmax; x++ {
			w := fw[x]
			if ww != 0 {
				w /= ww
			}
			// normalize_coeffs_8bpc: round half away from zero.
			if w < 0 {
				k[x] = int32(-0.5 + float64(w*(1<<precisionBits)))
			} else {
				k[x] = int32(0.5 + float64(w*(1<<precisionBits)))
			}
		}
		for x := xmax; x < ksize; x++ {
			k[x] = 0
		}
		c.bounds[2*xx] = int32(xmin)
		c.bounds[2*xx+1] = int32(xmax)
	}
	return fw
}

// clip8 is PIL's clip8: the accumulator shifted down by precisionBits and
// clamped to 0..255.
func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}

// resizer holds reusable buffers for resizeInto.
type resizer struct {
	horiz, vert resampleCoeffs
	fw          []float64
	tmp         []byte
	acc         []int32
}

// ResizeBilinear returns src resized to w×h exactly as PIL 9.4's
// Image.resize((w, h), Image.BILINEAR) does for an 8-bit RGB image (which is
// what torchvision 0.14's transforms.Resize does to a PIL image): a
// triangle filter whose support grows with the downscale factor
// (antialiasing), 22-bit fixed-point coefficients, a horizontal pass into an
// 8-bit intermediate covering only the rows the vertical pass reads, then the
// vertical pass; each output rounded and clipped to 0..255. A pass whose
// size does not change is skipped, as in PIL. It panics if w or h is not
// positive.
func ResizeBilinear(src *RGB, w, h int) *RGB {
	if w <= 0 || h <= 0 {
		panic("imaging: ResizeBilinear to non-positive size")
	}
	dst := &RGB{Pix: make([]byte, 3*w*h), Stride: 3 * w, Width: w, Height: h}
	var r resizer
	r.resizeInto(dst, src)
	return dst
}

// resizeInto resizes src into dst (whose Width, Height, Stride and Pix are
// set) using and growing r's buffers.
func (r *resizer) resizeInto(dst, src *RGB) {
	inW, inH := src.Width, src.Height
	outW, outH := dst.Width, dst.Height
	needH := outW != inW
	needV := outH != inH
	if !needH && !needV {
		for y := 0; y < outH; y++ {
			copy(dst.Pix[y*dst.Stride:y*dst.Stride+3*outW],
				src.Pix[y*src.Stride:y*src.Stride+3*inW])
		}
		return
	}

	// PIL always computes the vertical coefficients first: their bounds
	// decide which source rows the horizontal pass must produce.
	r.fw = precomputeCoeffs(inH, outH, &r.vert, r.fw)
	yFirst := int(r.vert.bounds[0])
	yLast := int(r.vert.bounds[2*outH-2] + r.vert.bounds[2*outH-1])

	cur := src
	var tmp RGB
	if needH {
		r.fw = precomputeCoeffs(inW, outW, &r.horiz, r.fw)
		for i := 0; i < outH; i++ {
			r.vert.bounds[2*i] -= int32(yFirst)
		}
		rows := yLast - yFirst
		if !needV {
			// Horizontal only: write straight into dst (rows == outH).
			horizontalPass(dst, src, yFirst, &r.horiz)
			return
		}
		r.tmp = grow(r.tmp, 3*outW*rows)
		tmp = RGB{Pix: r.tmp, Stride: 3 * outW, Width: outW, Height: rows}
		horizontalPass(&tmp, src, yFirst, &r.horiz)
		cur = &tmp
	}
	r.acc = growInt32(r.acc, 3*cur.Width)
	verticalPass(dst, cur, &r.vert, r.acc)
}

// horizontalPass is ImagingResampleHorizontal_8bpc for 3-band images: output
// row yy is computed from source row yy+offset.
func horizontalPass(dst, src *RGB, offset int, c *resampleCoeffs) {
	outW := dst.Width
	ksize := c.ksize
	for yy := 0; yy < dst.Height; yy++ {
		srow := src.Pix[(yy+offset)*src.Stride : (yy+offset)*src.Stride+3*src.Width]
		drow := dst.Pix[yy*dst.Stride : yy*dst.Stride+3*outW]
		for xx := 0; xx < outW; xx++ {
			xmin := int(c.bounds[2*xx])
			n := int(c.bounds[2*xx+1])
			rb, g := dot3(srow[3*xmin:3*(xmin+n)], c.k[xx*ksize:xx*ksize+n])
			d := drow[3*xx : 3*xx+3]
			d[0] = clip8(int32(uint32(rb)))
			d[1] = clip8(int32(uint32(g)))
			d[2] = clip8(int32(uint32(rb >> 32)))
		}
	}
}

// dot3 returns PIL's horizontal accumulators (initial value
// 1<<(precisionBits-1)) of one output pixel: R in the low and B in the high
// 32 bits of rb, G in g. len(s) must be 3*len(k).
//
// Bilinear coefficients are never negative, so every accumulator stays in
// [0, 2^30) (2^21 + 255·Σk with Σk ≤ 2^22 + len(k)/2): R and B are summed
// as two 32-bit lanes of one uint64 without carries between them, which
// gives exactly PIL's int32 sums with two multiplications per tap instead
// of three. It is kept out of line (and unrolled by two) so that its few
// live values stay in registers.
//
//go:noinline
func dot3(s []byte, k []int32) (rb, g uint64) {
	const half = 1 << (precisionBits - 1)
	rb = uint64(half) | uint64(half)<<32
	g = uint64(half)
	var rb2, g2 uint64
	s = s[:3*len(k)]
	i := 0
	for ; i+1 < len(k); i += 2 {
		j := 3 * i
		p := s[j : j+6 : j+6]
		w := uint64(uint32(k[i]))
		w2 := uint64(uint32(k[i+1]))
		rb += (uint64(p[0]) | uint64(p[2])<<32) * w
		g += uint64(p[1]) * w
		rb2 += (uint64(p[3]) | uint64(p[5])<<32) * w2
		g2 += uint64(p[4]) * w2
	}
	if i < len(k) {
		j := 3 * i
		p := s[j : j+3 : j+3]
		w := uint64(uint32(k[i]))
		rb += (uint64(p[0]) | uint64(p[2])<<32) * w
		g += uint64(p[1]) * w
	}
	return rb + rb2, g + g2
}

// verticalPass is ImagingResampleVertical_8bpc for 3-band images. It
// accumulates whole rows (integer sums, so the order of additions does not
// change the result) for cache-friendly access.
func verticalPass(dst, src *RGB, c *resampleCoeffs, acc []int32) {
	const half = 1 << (precisionBits - 1)
	n := 3 * dst.Width
	acc = acc[:n]
	ksize := c.ksize
	for yy := 0; yy < dst.Height; yy++ {
		ymin := int(c.bounds[2*yy])
		cnt := int(c.bounds[2*yy+1])
		k := c.k[yy*ksize : yy*ksize+cnt]
		for i := range acc {
			acc[i] = half
		}
		for j, w := range k {
			row := src.Pix[(ymin+j)*src.Stride : (ymin+j)*src.Stride+n]
			row = row[:len(acc)]
			for i, v := range row {
				acc[i] += int32(v) * w
			}
		}
		drow := dst.Pix[yy*dst.Stride : yy*dst.Stride+n]
		drow = drow[:len(acc)]
		for i, a := range acc {
			drow[i] = clip8(a)
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]byte, n)
}

func growInt32(b []int32, n int) []int32 {
	if cap(b) >= n {
		return b[:n]
	}
	return make([]int32, n)
}
