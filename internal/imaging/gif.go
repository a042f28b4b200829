package imaging

import (
	"bytes"
	"image"
	"image/gif"
)

// decodeGIF decodes the first frame of a GIF the way PIL 9.4 presents it:
// a palette image the size of the logical screen, the frame drawn at its
// offset, the rest filled with the transparent index (or index 0 when the
// frame has none), converted with the frame's palette. PIL's
// convert('RGB') keeps the palette colour of the transparent index; Go's
// decoder replaces that entry with transparent black, so the transparency
// flag is cleared in a copy of the data before decoding.
func decodeGIF(data []byte, screenW, screenH int, buf []byte) (RGB, []byte, error) {
	src, trans := gifClearTransparency(data)
	img, err := gif.Decode(bytes.NewReader(src))
	if err != nil {
		return RGB{}, buf, classifyDecodeErr(FormatGIF, err)
	}
	frame, ok := img.(*image.Paletted)
	if !ok {
		out, buf := toRGB(img, buf)
		return out, buf, nil
	}
	fill := uint8(0)
	if trans >= 0 {
		fill = uint8(trans)
	}
	canvas := image.NewPaletted(image.Rect(0, 0, screenW, screenH), frame.Palette)
	if fill != 0 {
		for i := range canvas.Pix {
			canvas.Pix[i] = fill
		}
	}
	r := frame.Rect.Intersect(canvas.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(canvas.Pix[canvas.PixOffset(r.Min.X, y):canvas.PixOffset(r.Max.X, y)],
			frame.Pix[frame.PixOffset(r.Min.X, y):frame.PixOffset(r.Max.X, y)])
	}
	out, buf := toRGB(canvas, buf)
	return out, buf, nil
}

// gifClearTransparency walks the blocks before the first image descriptor.
// If a graphic control extension sets the transparency flag it returns a
// copy of data with the flag cleared and the transparent index; otherwise
// data itself and -1. Malformed data is returned unchanged for the decoder
// to reject.
func gifClearTransparency(data []byte) ([]byte, int) {
	if len(data) < 13 {
		return data, -1
	}
	pos := 13
	if flags := data[10]; flags&0x80 != 0 {
		pos += 3 << ((flags & 7) + 1)
	}
	gce := -1
	for pos < len(data) {
		switch data[pos] {
		case 0x21: // extension
			if pos+2 > len(data) {
				return data, -1
			}
			if data[pos+1] == 0xF9 && pos+7 < len(data) && data[pos+2] == 4 {
				gce = pos + 3 // packed fields byte
			}
			pos += 2
			for pos < len(data) && data[pos] != 0 { // sub-blocks
				pos += int(data[pos]) + 1
			}
			pos++
		case 0x2C: // image descriptor: the first frame
			if gce < 0 || data[gce]&1 == 0 {
				return data, -1
			}
			out := bytes.Clone(data)
			out[gce] &^= 1
			return out, int(data[gce+3])
		default:
			return data, -1
		}
	}
	return data, -1
}
