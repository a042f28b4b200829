package imaging

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/gif"
	"image/png"
	"sync"

	"golang.org/x/image/tiff"
	"golang.org/x/image/webp"
)

// Format names a supported image container.
type Format string

// Supported formats.
const (
	FormatJPEG Format = "jpeg"
	FormatPNG  Format = "png"
	FormatWebP Format = "webp"
	FormatTIFF Format = "tiff"
	FormatGIF  Format = "gif"
)

// Limits bounds the input accepted by Probe, DecodeRGB and Preprocess. Both
// are checked before any pixel buffer is allocated: MaxBytes against
// len(data), MaxPixels against width×height from the header. A zero or
// negative field means the DefaultLimits value.
type Limits struct {
	MaxBytes  int64
	MaxPixels int64
}

// DefaultLimits returns 50 MiB and 120 000 000 pixels.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 50 << 20, MaxPixels: 120_000_000}
}

func (l Limits) orDefault() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxPixels <= 0 {
		l.MaxPixels = d.MaxPixels
	}
	return l
}

// Info describes an image from its header: container format and the pixel
// size of the full image (EXIF orientation is not applied, see DecodeRGB).
type Info struct {
	Format        Format
	Width, Height int
}

// Spec is a model's input specification: the tensor size and the per
// channel (R, G, B) normalization applied to values scaled to [0, 1].
type Spec struct {
	Width, Height int
	Mean, Std     [3]float32
}

// ImageNetSpec returns the spec of torchvision's published ImageNet models
// (mean 0.485, 0.456, 0.406; std 0.229, 0.224, 0.225) at width×height.
func ImageNetSpec(width, height int) Spec {
	return Spec{
		Width:  width,
		Height: height,
		Mean:   [3]float32{0.485, 0.456, 0.406},
		Std:    [3]float32{0.229, 0.224, 0.225},
	}
}

// Options selects decoding variants.
type Options struct {
	// FastScaledDecode lets JPEG decoding use libjpeg-turbo's scaled IDCT
	// (1/2, 1/4 or 1/8 of the size, see scaleDenom) when the image is
	// large compared with the target, before the same PIL-exact resize.
	// For a 24 MP JPEG this roughly halves Preprocess's time. The tensor
	// then differs slightly from torchvision's: on a 6000×4000 mosaic of
	// real paintings (→ 224×224) the package tests measured max |diff|
	// 0.035 (2 levels of 255) and mean 0.0024 at the default ratio (1/4
	// scale), and max 0.12 (7 levels), mean 0.006 at ratio 2 (1/8 scale);
	// sharp edges in native-resolution paintings at ratio 2–3 reached 30
	// levels locally. Other formats ignore it.
	FastScaledDecode bool

	// FastMinRatio is the smallest allowed ratio, in each dimension,
	// between the DCT-scaled image and the target size. 0 selects
	// DefaultFastMinRatio; values below 1 act as 1. Larger is closer to the
	// exact path and slower.
	FastMinRatio int
}

// DefaultFastMinRatio is the FastMinRatio used when the option is 0. With
// 4 the triangle filter of the final resize still spans at least eight
// scaled pixels per output pixel, which kept the DCT-domain reduction's
// deviation to two 8-bit levels on the 24 MP test mosaic (1/4 scale for
// 20–50 MP photos at a 224 target).
const DefaultFastMinRatio = 4

// RGB is a packed 8-bit RGB image: the channels of pixel (x, y) are
// Pix[y*Stride+3*x : y*Stride+3*x+3]. Images made by this package have
// Stride == 3*Width. RGB implements image.Image.
type RGB struct {
	Pix           []uint8
	Stride        int
	Width, Height int
}

// NewRGB returns a black w×h image.
func NewRGB(w, h int) *RGB {
	return &RGB{Pix: make([]uint8, 3*w*h), Stride: 3 * w, Width: w, Height: h}
}

// ColorModel implements image.Image.
func (p *RGB) ColorModel() color.Model { return color.RGBAModel }

// Bounds implements image.Image.
func (p *RGB) Bounds() image.Rectangle { return image.Rect(0, 0, p.Width, p.Height) }

// At implements image.Image.
func (p *RGB) At(x, y int) color.Color {
	if x < 0 || y < 0 || x >= p.Width || y >= p.Height {
		return color.RGBA{}
	}
	i := y*p.Stride + 3*x
	return color.RGBA{p.Pix[i], p.Pix[i+1], p.Pix[i+2], 0xff}
}

// detectFormat identifies the container from its signature, as PIL's
// Image.open does.
func detectFormat(data []byte) (Format, bool) {
	switch {
	case len(data) >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF:
		return FormatJPEG, true
	case len(data) >= 8 && string(data[:8]) == "\x89PNG\r\n\x1a\n":
		return FormatPNG, true
	case len(data) >= 6 && (string(data[:6]) == "GIF87a" || string(data[:6]) == "GIF89a"):
		return FormatGIF, true
	case len(data) >= 12 && string(data[:4]) == "RIFF" && string(data[8:12]) == "WEBP":
		return FormatWebP, true
	case len(data) >= 4 && (string(data[:4]) == "II*\x00" || string(data[:4]) == "MM\x00*"):
		return FormatTIFF, true
	}
	return "", false
}

// Probe returns the format and pixel size of an image from its header
// only, after checking lim. It allocates no pixel memory.
func Probe(data []byte, lim Limits) (info Info, err error) {
	lim = lim.orDefault()
	if int64(len(data)) > lim.MaxBytes {
		return info, wrapErr(ErrTooLarge, "input is %d bytes, limit %d",
			len(data), lim.MaxBytes)
	}
	if len(data) == 0 {
		return info, wrapErr(ErrCorrupt, "input is empty (0 bytes)")
	}
	f, ok := detectFormat(data)
	if !ok {
		return info, wrapErr(ErrUnsupportedFormat, "unrecognized signature % x",
			data[:min(len(data), 8)])
	}
	info.Format = f
	err = safely(f, func() error {
		if f == FormatJPEG {
			jh, e := parseJPEG(data, false)
			info.Width, info.Height = jh.width, jh.height
			return e
		}
		var cfg image.Config
		var e error
		r := bytes.NewReader(data)
		switch f {
		case FormatPNG:
			cfg, e = png.DecodeConfig(r)
		case FormatGIF:
			cfg, e = gif.DecodeConfig(r)
		case FormatWebP:
			cfg, e = webp.DecodeConfig(r)
		case FormatTIFF:
			cfg, e = tiff.DecodeConfig(r)
		}
		if e != nil {
			return classifyDecodeErr(f, e)
		}
		info.Width, info.Height = cfg.Width, cfg.Height
		return nil
	})
	if err != nil {
		return info, err
	}
	if info.Width <= 0 || info.Height <= 0 {
		return info, wrapErr(ErrCorrupt, "%s: image is %dx%d", f, info.Width, info.Height)
	}
	if px := int64(info.Width) * int64(info.Height); px > lim.MaxPixels {
		return info, wrapErr(ErrTooLarge, "image is %dx%d = %d pixels, limit %d",
			info.Width, info.Height, px, lim.MaxPixels)
	}
	return info, nil
}

// safely runs fn, turning a panic into an ErrCorrupt error.
func safely(f Format, fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = wrapErr(ErrCorrupt, "%s: decoder panic: %v", f, r)
		}
	}()
	return fn()
}

// DecodeRGB decodes data to packed 8-bit RGB exactly as
// PIL.Image.open(f).convert('RGB') does with Debian's Pillow 9.4 (JPEG
// through libjpeg-turbo with the accurate IDCT and fancy upsampling; see the
// package documentation for the other formats). EXIF orientation is not
// applied (neither PIL's open nor torchvision applies it), and ICC profiles
// are ignored.
//
// With opt.FastScaledDecode and a non-zero target (the size the caller will
// resize to), a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale (see
// Options); the returned image is then smaller than info.Width×info.Height,
// which always gives the full size. Without it target is ignored.
func DecodeRGB(data []byte, lim Limits, opt Options, target image.Point) (*RGB, Info, error) {
	info, err := Probe(data, lim)
	if err != nil {
		return nil, info, err
	}
	img, _, err := decode(data, info, opt, target, nil)
	if err != nil {
		return nil, info, err
	}
	return &img, info, nil
}

// decode decodes a probed image into buf (grown as needed) and returns the
// image and the buffer for reuse.
func decode(data []byte, info Info, opt Options, target image.Point,
	buf []byte) (img RGB, out []byte, err error) {
	out = buf
	err = safely(info.Format, func() error {
		var e error
		switch info.Format {
		case FormatJPEG:
			// Walk the whole stream: decodeJPEG needs to know whether it
			// ends with an EOI marker.
			jh, e := parseJPEG(data, true)
			if e != nil {
				return e
			}
			denom := 1
			if opt.FastScaledDecode {
				denom = scaleDenom(jh.width, jh.height, target, opt.FastMinRatio)
			}
			img, out, e = decodeJPEG(data, jh, denom, out)
			return e
		case FormatWebP:
			img, out, e = decodeWebP(data, out)
			return e
		case FormatGIF:
			img, out, e = decodeGIF(data, info.Width, info.Height, out)
			return e
		}
		var m image.Image
		r := bytes.NewReader(data)
		if info.Format == FormatPNG {
			m, e = png.Decode(r)
		} else {
			m, e = tiff.Decode(r)
		}
		if e != nil {
			return classifyDecodeErr(info.Format, e)
		}
		if b := m.Bounds(); b.Dx() != info.Width || b.Dy() != info.Height {
			return wrapErr(ErrCorrupt, "%s: decoded %dx%d, header said %dx%d",
				info.Format, b.Dx(), b.Dy(), info.Width, info.Height)
		}
		img, out = toRGB(m, out)
		return nil
	})
	return img, out, err
}

// scaleDenom picks the JPEG IDCT scale 1/denom for the fast path: the
// largest denom in {8, 4, 2} for which ceil(w/denom) >= ratio*target.X and
// ceil(h/denom) >= ratio*target.Y (ratio from Options.FastMinRatio), else 1.
// Decoding at 1/denom approximates a denom×denom box average; keeping the
// scaled image several times larger than the target lets PIL's
// antialiasing triangle filter (support = downscale factor) dominate.
func scaleDenom(w, h int, target image.Point, ratio int) int {
	if !turboAvailable || target.X <= 0 || target.Y <= 0 {
		return 1
	}
	if ratio == 0 {
		ratio = DefaultFastMinRatio
	}
	ratio = max(ratio, 1)
	for _, d := range [...]int{8, 4, 2} {
		if (w+d-1)/d >= ratio*target.X && (h+d-1)/d >= ratio*target.Y {
			return d
		}
	}
	return 1
}

// scratch holds the per-call buffers of Preprocess.
type scratch struct {
	dec, out []byte
	rz       resizer
}

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// Preprocess decodes data, resizes it to spec.Width×spec.Height with
// ResizeBilinear and writes spec.Normalize of it to dst, i.e. torchvision's
// Compose([Resize((H, W)), ToTensor(), Normalize(mean, std)]) applied to
// PIL.Image.open(f).convert('RGB'). dst must have length
// 3*spec.Width*spec.Height (CHW); Preprocess panics otherwise. Intermediate
// buffers are pooled, so steady-state calls allocate little beyond what the
// Go decoders of non-JPEG formats allocate. It is DecodeFor, Decoded.Tensor
// and Decoded.Release in one call.
func Preprocess(data []byte, spec Spec, lim Limits, opt Options, dst []float32) (Info, error) {
	checkDst(spec, dst)
	d, err := DecodeFor(data, spec, lim, opt)
	if err != nil {
		return d.Info, err
	}
	defer d.Release()
	d.Tensor(spec, dst)
	return d.Info, nil
}

func checkDst(spec Spec, dst []float32) {
	if spec.Width <= 0 || spec.Height <= 0 || len(dst) != 3*spec.Width*spec.Height {
		panic(fmt.Sprintf("imaging: Preprocess: dst has length %d, spec %dx%d needs %d",
			len(dst), spec.Width, spec.Height, 3*spec.Width*spec.Height))
	}
}

// Decoded is an image decoded for a model input, held in pooled buffers so
// that the same pixels can serve the model's tensor and other consumers
// (the worker's provenance hashes) without a second decode. Release must be
// called once it is no longer used; Image is invalid afterwards.
type Decoded struct {
	// Image is the decoded image: Info's size, or smaller when the JPEG fast
	// path decoded at a reduced scale (see Options.FastScaledDecode).
	Image RGB
	Info  Info
	s     *scratch
}

// DecodeFor probes and decodes data as Preprocess does for spec's size. On
// error the returned Decoded holds only what the probe read (Info).
func DecodeFor(data []byte, spec Spec, lim Limits, opt Options) (*Decoded, error) {
	info, err := Probe(data, lim)
	if err != nil {
		return &Decoded{Info: info}, err
	}
	s := scratchPool.Get().(*scratch)
	img, dec, err := decode(data, info, opt, image.Pt(spec.Width, spec.Height), s.dec)
	s.dec = dec
	if err != nil {
		scratchPool.Put(s)
		return &Decoded{Info: info}, err
	}
	return &Decoded{Image: img, Info: info, s: s}, nil
}

// Tensor resizes the image to spec's size and writes it normalized to dst
// (see Preprocess, which panics on the same wrong lengths).
func (d *Decoded) Tensor(spec Spec, dst []float32) {
	checkDst(spec, dst)
	s := d.s
	s.out = grow(s.out, 3*spec.Width*spec.Height)
	out := RGB{Pix: s.out, Stride: 3 * spec.Width, Width: spec.Width, Height: spec.Height}
	s.rz.resizeInto(&out, &d.Image)
	spec.Normalize(&out, dst)
}

// Release returns the buffers to the pool. Calling it twice, or on a failed
// DecodeFor's result, does nothing.
func (d *Decoded) Release() {
	if d.s != nil {
		scratchPool.Put(d.s)
		d.s, d.Image = nil, RGB{}
	}
}

// Normalize writes src as a CHW float32 tensor to dst:
// dst[c*H*W + y*W + x] = (v/255 - Mean[c]) / Std[c], each step rounded to
// float32 as torchvision's ToTensor (div(255)) and Normalize (sub_(mean),
// div_(std)) do, so the values are bit-identical to torch's. It panics if
// src is not s.Width×s.Height or len(dst) != 3*s.Width*s.Height.
func (s Spec) Normalize(src *RGB, dst []float32) {
	n := s.Width * s.Height
	if src.Width != s.Width || src.Height != s.Height || len(dst) != 3*n {
		panic(fmt.Sprintf("imaging: Normalize: image %dx%d, dst length %d, spec %dx%d",
			src.Width, src.Height, len(dst), s.Width, s.Height))
	}
	var lut [3][256]float32
	for c := 0; c < 3; c++ {
		for v := 0; v < 256; v++ {
			x := float32(v) / 255
			x -= s.Mean[c]
			lut[c][v] = x / s.Std[c]
		}
	}
	r, g, b := dst[:n], dst[n:2*n], dst[2*n:3*n]
	w := s.Width
	for y := 0; y < s.Height; y++ {
		row := src.Pix[y*src.Stride : y*src.Stride+3*w]
		o := y * w
		rr, gg, bb := r[o:o+w], g[o:o+w], b[o:o+w]
		for x := range rr {
			p := row[3*x : 3*x+3]
			rr[x] = lut[0][p[0]]
			gg[x] = lut[1][p[1]]
			bb[x] = lut[2][p[2]]
		}
	}
}
