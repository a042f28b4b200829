package imaging

import (
	"bytes"
	"image"

	"golang.org/x/image/webp"
)

// decodeWebP decodes a still WebP image. Lossless (VP8L) pixels are exact.
// For lossy (VP8) images Go's decoder yields the exact Y'CbCr 4:2:0 planes
// (VP8 decoding is bit-exact by specification), and the conversion to RGB
// reproduces what libwebp 1.2 (PIL's decoder) does by default: "fancy"
// chroma upsampling (UpsampleRgbLinePair) and its 14-bit fixed-point
// YUV→RGB (VP8YuvToRgb). Alpha is ignored, as PIL's convert('RGB') drops it.
func decodeWebP(data []byte, buf []byte) (RGB, []byte, error) {
	if isAnimatedWebP(data) {
		return RGB{}, buf, wrapErr(ErrUnsupportedFormat, "webp: animated WebP")
	}
	img, err := webp.Decode(bytes.NewReader(data))
	if err != nil {
		return RGB{}, buf, classifyDecodeErr(FormatWebP, err)
	}
	switch m := img.(type) {
	case *image.YCbCr:
		return webpFancyRGB(m, buf)
	case *image.NYCbCrA:
		return webpFancyRGB(&m.YCbCr, buf)
	}
	out, buf := toRGB(img, buf)
	return out, buf, nil
}

// isAnimatedWebP reports whether a VP8X chunk with the animation flag comes
// first (x/image/webp does not decode ANIM/ANMF).
func isAnimatedWebP(data []byte) bool {
	return len(data) >= 21 && string(data[12:16]) == "VP8X" && data[20]&0x02 != 0
}

// webpFancyRGB converts 4:2:0 planes to RGB like libwebp's EmitFancyRGB run
// over the whole picture: row 0 alone, then row pairs (2k-1, 2k) between
// chroma rows k-1 and k, then the last row alone if the height is even.
func webpFancyRGB(m *image.YCbCr, buf []byte) (RGB, []byte, error) {
	if m.SubsampleRatio != image.YCbCrSubsampleRatio420 {
		out, buf := toRGB(m, buf)
		return out, buf, nil
	}
	w, h := m.Rect.Dx(), m.Rect.Dy()
	buf = grow(buf, 3*w*h)
	out := RGB{Pix: buf, Stride: 3 * w, Width: w, Height: h}
	uvw := (w + 1) / 2
	yRow := func(y int) []byte {
		o := m.YOffset(m.Rect.Min.X, m.Rect.Min.Y+y)
		return m.Y[o : o+w]
	}
	uvRow := func(cy int) ([]byte, []byte) {
		o := m.COffset(m.Rect.Min.X, m.Rect.Min.Y+2*cy)
		return m.Cb[o : o+uvw], m.Cr[o : o+uvw]
	}
	dRow := func(y int) []byte { return out.Pix[y*out.Stride : y*out.Stride+3*w] }

	u, v := uvRow(0)
	upsampleLinePair(yRow(0), nil, u, v, u, v, dRow(0), nil, w)
	for y := 0; y+2 < h; y += 2 {
		tu, tv := uvRow(y / 2)
		cu, cv := uvRow(y/2 + 1)
		upsampleLinePair(yRow(y+1), yRow(y+2), tu, tv, cu, cv, dRow(y+1), dRow(y+2), w)
	}
	if h%2 == 0 && h > 1 {
		cu, cv := uvRow(h/2 - 1)
		upsampleLinePair(yRow(h-1), nil, cu, cv, cu, cv, dRow(h-1), nil, w)
	}
	return out, buf, nil
}

// upsampleLinePair ports libwebp's UpsampleRgbLinePair (dsp/upsampling.c):
// chroma for each output pixel is (9·near + 3·horizontal + 3·vertical +
// diagonal)/16 with libwebp's exact two-step rounding; the first and (for
// even widths) last pixel use (3·near + vertical + 2)/4.
func upsampleLinePair(topY, botY, topU, topV, curU, curV, topDst, botDst []byte, n int) {
	last := (n - 1) >> 1
	tlU, tlV := int(topU[0]), int(topV[0])
	lU, lV := int(curU[0]), int(curV[0])
	yuvToRGB(topY[0], (3*tlU+lU+2)>>2, (3*tlV+lV+2)>>2, topDst[0:3])
	if botY != nil {
		yuvToRGB(botY[0], (3*lU+tlU+2)>>2, (3*lV+tlV+2)>>2, botDst[0:3])
	}
	for x := 1; x <= last; x++ {
		tU, tV := int(topU[x]), int(topV[x])
		cU, cV := int(curU[x]), int(curV[x])
		avgU := tlU + tU + lU + cU + 8
		avgV := tlV + tV + lV + cV + 8
		d12U, d12V := (avgU+2*(tU+lU))>>3, (avgV+2*(tV+lV))>>3
		d03U, d03V := (avgU+2*(tlU+cU))>>3, (avgV+2*(tlV+cV))>>3
		i := 2*x - 1
		yuvToRGB(topY[i], (d12U+tlU)>>1, (d12V+tlV)>>1, topDst[3*i:3*i+3])
		yuvToRGB(topY[i+1], (d03U+tU)>>1, (d03V+tV)>>1, topDst[3*i+3:3*i+6])
		if botY != nil {
			yuvToRGB(botY[i], (d03U+lU)>>1, (d03V+lV)>>1, botDst[3*i:3*i+3])
			yuvToRGB(botY[i+1], (d12U+cU)>>1, (d12V+cV)>>1, botDst[3*i+3:3*i+6])
		}
		tlU, tlV, lU, lV = tU, tV, cU, cV
	}
	if n&1 == 0 {
		i := n - 1
		yuvToRGB(topY[i], (3*tlU+lU+2)>>2, (3*tlV+lV+2)>>2, topDst[3*i:3*i+3])
		if botY != nil {
			yuvToRGB(botY[i], (3*lU+tlU+2)>>2, (3*lV+tlV+2)>>2, botDst[3*i:3*i+3])
		}
	}
}

// yuvToRGB is libwebp's VP8YuvToRgb (dsp/yuv.h, YUV_FIX2 = 6).
func yuvToRGB(y uint8, u, v int, d []byte) {
	yy := mulHi(int(y), 19077)
	d[0] = webpClip8(yy + mulHi(v, 26149) - 14234)
	d[1] = webpClip8(yy - mulHi(u, 6419) - mulHi(v, 13320) + 8708)
	d[2] = webpClip8(yy + mulHi(u, 33050) - 17685)
}

func mulHi(v, coeff int) int { return (v * coeff) >> 8 }

func webpClip8(v int) uint8 {
	const mask = (256 << 6) - 1
	if v&^mask == 0 {
		return uint8(v >> 6)
	}
	if v < 0 {
		return 0
	}
	return 255
}
