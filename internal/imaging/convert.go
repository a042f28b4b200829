package imaging

import (
	"image"
	"image/color"
)

// cmykToRGBInPlace converts n pixels of libjpeg CMYK output (4 bytes per
// pixel) to packed RGB in place (writes never overtake reads).
//
// PIL opens every 4-component JPEG with rawmode "CMYK;I", i.e. it assumes
// Adobe's inverted CMYK and stores 255-v, then convert('RGB') computes
// (Convert.c cmyk2rgb) R = nk - MULDIV255(C, nk) with nk = 255 - K. With
// C = 255-c and K = 255-k for the raw libjpeg samples c, k this is
// R = k - MULDIV255(255-c, k).
func cmykToRGBInPlace(p []byte, n int) {
	for i := 0; i < n; i++ {
		s := p[4*i : 4*i+4]
		c, m, y, nk := int(s[0]), int(s[1]), int(s[2]), int(s[3])
		r := uint8(nk - mulDiv255(255-c, nk))
		g := uint8(nk - mulDiv255(255-m, nk))
		b := uint8(nk - mulDiv255(255-y, nk))
		d := p[3*i : 3*i+3]
		d[0], d[1], d[2] = r, g, b
	}
}

// mulDiv255 is PIL's MULDIV255: a*b/255 rounded, in integers.
func mulDiv255(a, b int) int {
	t := a*b + 128
	return ((t >> 8) + t) >> 8
}

// toRGB converts a decoded Go image to packed RGB in buf the way PIL's
// convert('RGB') converts the image PIL itself would have decoded:
//
//   - alpha is dropped, never composited (RGBA→RGB, LA→RGB, PA→RGB);
//   - greyscale is replicated to three channels;
//   - 16-bit samples keep the high byte (PIL unpacks "RGB;16B", "RGBA;16B",
//     "LA;16B" that way), except 16-bit greyscale, which PIL opens as mode
//     "I"/"I;16" and convert('RGB') clips: values above 255 become 255;
//   - 8-bit associated-alpha RGBA (TIFF ExtraSamples=1, which Go returns as
//     *image.RGBA) is un-premultiplied as PIL's "RGBa" unpacker does;
//   - palette images are looked up in their palette; 16-bit TIFF colormaps
//     keep the high byte, as PIL does.
//
// Types not listed fall back to Go's color conversion.
func toRGB(img image.Image, buf []byte) (RGB, []byte) {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	buf = grow(buf, 3*w*h)
	out := RGB{Pix: buf, Stride: 3 * w, Width: w, Height: h}
	switch m := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x, v := range src {
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+2*w]
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x := 0; x < w; x++ {
				v := src[2*x+1]
				if src[2*x] != 0 {
					v = 255
				}
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.RGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x := 0; x < w; x++ {
				s := src[4*x : 4*x+4]
				d := dst[3*x : 3*x+3]
				switch a := int(s[3]); a {
				case 255:
					d[0], d[1], d[2] = s[0], s[1], s[2]
				case 0:
					d[0], d[1], d[2] = 0, 0, 0
				default:
					d[0] = clip255(int(s[0]) * 255 / a)
					d[1] = clip255(int(s[1]) * 255 / a)
					d[2] = clip255(int(s[2]) * 255 / a)
				}
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+4*w]
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x := 0; x < w; x++ {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
	case *image.RGBA64:
		highBytes(out, m.Pix, m.Stride, w, h)
	case *image.NRGBA64:
		highBytes(out, m.Pix, m.Stride, w, h)
	case *image.Paletted:
		var lut [256][3]uint8 // indices outside the palette read as black
		for i, c := range m.Palette {
			if i < 256 {
				lut[i] = paletteRGB(c)
			}
		}
		for y := 0; y < h; y++ {
			src := m.Pix[y*m.Stride : y*m.Stride+w]
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x, v := range src {
				p := lut[v]
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
	default:
		for y := 0; y < h; y++ {
			dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				dst[3*x], dst[3*x+1], dst[3*x+2] = c.R, c.G, c.B
			}
		}
	}
	return out, buf
}

// highBytes copies the high byte of the R, G, B samples of 64-bit pixels.
func highBytes(out RGB, pix []byte, stride, w, h int) {
	for y := 0; y < h; y++ {
		src := pix[y*stride : y*stride+8*w]
		dst := out.Pix[y*out.Stride : y*out.Stride+3*w]
		for x := 0; x < w; x++ {
			dst[3*x], dst[3*x+1], dst[3*x+2] = src[8*x], src[8*x+2], src[8*x+4]
		}
	}
}

// paletteRGB returns the stored RGB of a palette entry without
// premultiplying (PIL's palette lookup ignores alpha).
func paletteRGB(c color.Color) [3]uint8 {
	switch c := c.(type) {
	case color.RGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.NRGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.RGBA64:
		return [3]uint8{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)}
	case color.NRGBA64:
		return [3]uint8{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}

func clip255(v int) uint8 {
	if v > 255 {
		return 255
	}
	return uint8(v)
}
