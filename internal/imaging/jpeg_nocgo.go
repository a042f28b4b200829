//go:build !cgo

package imaging

import (
	"bytes"
	"image/jpeg"
)

// turboAvailable is false without cgo: JPEG decoding then falls back to Go's
// image/jpeg, whose IDCT and chroma upsampling differ from libjpeg-turbo's,
// so results are NOT bit-exact with PIL (typically a few 8-bit levels), and
// Options.FastScaledDecode has no effect.
const turboAvailable = false

func decodeJPEG(data []byte, h jpegHeader, denom int, buf []byte) (RGB, []byte, error) {
	src := data
	if !h.complete { // accept a missing EOI marker, as PIL does
		src = append(bytes.Clone(data), 0xFF, 0xD9)
	}
	m, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		if !h.complete {
			return RGB{}, buf, wrapErr(ErrCorrupt, "jpeg: truncated (%d bytes, no EOI marker): %v",
				len(data), err)
		}
		return RGB{}, buf, classifyDecodeErr(FormatJPEG, err)
	}
	out, buf := toRGB(m, buf)
	return out, buf, nil
}
