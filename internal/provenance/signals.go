// Package provenance extracts, from the bytes of an uploaded artwork image,
// every signal bearing on where the image came from: its SHA-256, perceptual
// hashes for near-duplicate search, the EXIF and XMP metadata, any embedded
// C2PA manifest, PNG text chunks left by image generators, and a cheap
// spectral statistic that tends to be higher for GAN-made images.
//
// Nothing here verifies anything. Metadata is whatever the uploader's file
// says; it can be forged or stripped at will. Signals and Claims are
// evidence for a reviewer and reasons for alerts, never verdicts: absent
// metadata proves nothing, and present metadata proves only that someone
// wrote it.
//
// Extract never panics on hostile input: every parser checks its bounds,
// stops after fixed counts and sizes (see the max* constants), and runs
// under recover, so one malformed structure costs only its own fields and
// a Warnings entry.
package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"strconv"

	"github.com/artauth/artauth/internal/imaging"
)

// Signals is everything Extract found in one image. It marshals to JSON
// with snake_case keys, for storage as jsonb; every string in it is valid
// UTF-8 without NUL or other control characters (Postgres jsonb rejects
// \u0000), and every float is finite.
type Signals struct {
	// SHA256 is the lower-case hex SHA-256 of the whole input.
	SHA256 string `json:"sha256"`
	// Bytes is the input's length.
	Bytes int `json:"bytes"`
	// Format is the container found from the signature: jpeg, png, webp,
	// tiff, gif, or empty when none is recognised.
	Format string `json:"format,omitempty"`
	// Width and Height are the full pixel size from the header (0 when the
	// header could not be read or is over Options.Limits).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`

	// Decoded reports whether the pixels were decoded; PHash, DHash and
	// Spectral are meaningful only when it is true.
	Decoded bool `json:"decoded"`
	// DecodeError is the reason the pixels could not be decoded.
	DecodeError string `json:"decode_error,omitempty"`
	// PHash is the DCT perceptual hash of the image (see PHash).
	PHash Hash64 `json:"phash"`
	// DHash is the difference hash of the image (see DHash).
	DHash Hash64 `json:"dhash"`
	// Spectral is SpectralScore of the image at SpectralSize×SpectralSize.
	Spectral float64 `json:"spectral_score"`

	// EXIF summarises the EXIF (TIFF IFD) metadata.
	EXIF EXIF `json:"exif"`
	// XMP summarises the XMP packet.
	XMP XMP `json:"xmp"`
	// C2PA summarises an embedded C2PA manifest store. UNVERIFIED.
	C2PA C2PA `json:"c2pa"`
	// PNGText lists the PNG tEXt, zTXt and iTXt chunks (XMP excluded), at
	// most maxTextEntries of them.
	PNGText []TextEntry `json:"png_text,omitempty"`

	// MetadataStripped is true when the file carries no provenance
	// metadata at all: no EXIF, no XMP, no C2PA manifest and no PNG text
	// chunk. Typical of screenshots, re-encodes and files passed through
	// metadata-stripping services or generators that write nothing.
	MetadataStripped bool `json:"metadata_stripped"`

	// Warnings lists structures that were malformed, truncated or over a
	// bound and were skipped (at most maxWarnings).
	Warnings []string `json:"warnings,omitempty"`
}

// Options bounds the work Extract does. The zero value means the defaults.
type Options struct {
	// Limits bounds the input size and pixel count (zero fields:
	// imaging.DefaultLimits). Inputs over Limits.MaxBytes get only SHA256
	// and Bytes.
	Limits imaging.Limits
	// MetadataOnly skips pixel decoding: no hashes and no spectral score.
	MetadataOnly bool
	// Decoded, when set, is data already decoded (the worker's decode for its model):
	// the pixel signals are computed from it instead of decoding data again. Images
	// decoded at full scale give exactly Extract's signals. A large JPEG may be decoded at
	// another reduced scale for a 224-pixel model than Extract picks for SpectralSize;
	// both are several times SpectralSize, so the hashes barely move (pHash 0 bits, dHash
	// up to 2 of 64 in TestSharedDecode), but the spectral score, which reads the highest
	// frequencies, moved by up to 0.35 there.
	Decoded *imaging.Decoded
}

// Bounds on the work done per input. They are far above what real files
// carry and keep hostile files cheap.
const (
	maxWarnings      = 32
	maxTextEntries   = 64
	maxTextValue     = 2048    // bytes of a PNG text value kept in Signals
	maxFieldLen      = 512     // bytes of an EXIF/XMP/C2PA string kept
	maxInflate       = 1 << 20 // bytes inflated from one compressed chunk
	maxInflateTotal  = 8 << 20 // bytes inflated from all chunks of a file
	maxXMPBytes      = 4 << 20 // bytes of one XMP packet parsed
	maxXMPTokens     = 200_000 // XML tokens read from one XMP packet
	maxSegments      = 1 << 16 // JPEG segments, PNG and WebP chunks walked
	maxIFDEntries    = 1024    // entries read from one TIFF IFD
	maxJUMBFBoxes    = 1 << 14 // JUMBF boxes walked in one manifest store
	maxJUMBFDepth    = 16      // nesting of JUMBF superboxes
	maxDigitalSource = 8       // distinct digitalSourceType values kept
)

// ErrTooLarge is wrapped by Extract's error when the input is over
// Options.Limits.MaxBytes.
var ErrTooLarge = errors.New("provenance: input too large")

// Extract is ExtractWith(data, Options{}).
func Extract(data []byte) (Signals, error) {
	return ExtractWith(data, Options{})
}

// ExtractWith computes the Signals of an image. It reads the metadata of
// JPEG, PNG, WebP and TIFF containers (GIF: none), and decodes the pixels
// with imaging.DecodeRGB (JPEG through the DCT-scaled fast path for large
// images, see imaging.Options.FastScaledDecode), then resizes them to
// SpectralSize×SpectralSize for the hashes and the spectral score.
//
// When the pixels cannot be decoded, the returned Signals still holds the
// SHA-256 and all metadata found, Decoded is false, and the error (wrapping
// the imaging sentinel) is returned too. Malformed metadata is not an
// error: it is skipped and noted in Warnings. ExtractWith never panics,
// and is safe for concurrent use.
func ExtractWith(data []byte, opt Options) (s Signals, err error) {
	lim := opt.Limits
	if lim.MaxBytes <= 0 {
		lim.MaxBytes = imaging.DefaultLimits().MaxBytes
	}
	sum := sha256.Sum256(data)
	s.SHA256 = hex.EncodeToString(sum[:])
	s.Bytes = len(data)
	if int64(len(data)) > lim.MaxBytes {
		return s, fmt.Errorf("input is %d bytes, limit %d: %w", len(data), lim.MaxBytes,
			ErrTooLarge)
	}
	m := &meta{s: &s}
	m.guard("metadata", func() { m.parseContainer(data) })
	s.MetadataStripped = !s.EXIF.Present && !s.XMP.Present && !s.C2PA.Present &&
		len(s.PNGText) == 0
	if opt.MetadataOnly {
		if info, err := imaging.Probe(data, lim); err == nil {
			s.Width, s.Height = info.Width, info.Height
		}
		return s, nil
	}
	if d := opt.Decoded; d != nil {
		s.Width, s.Height = d.Info.Width, d.Info.Height
		if err := pixelSignals(&s, &d.Image); err != nil {
			s.DecodeError = clean(err.Error(), maxFieldLen)
			return s, fmt.Errorf("provenance: pixel signals of %s: %w", s.SHA256[:16], err)
		}
		return s, nil
	}
	if err := decodePixels(&s, data, lim); err != nil {
		s.DecodeError = clean(err.Error(), maxFieldLen)
		return s, fmt.Errorf("provenance: decode %d-byte %s image %s: %w", len(data),
			formatName(s.Format), s.SHA256[:16], err)
	}
	return s, nil
}

// decodePixels decodes data and fills the pixel signals.
func decodePixels(s *Signals, data []byte, lim imaging.Limits) error {
	rgb, info, err := imaging.DecodeRGB(data, lim,
		imaging.Options{FastScaledDecode: true}, image.Pt(SpectralSize, SpectralSize))
	if info.Width > 0 {
		s.Width, s.Height = info.Width, info.Height
	}
	if err != nil {
		return err
	}
	return pixelSignals(s, rgb)
}

// pixelSignals fills the hashes and the spectral score from decoded pixels, turning a panic
// into an error.
func pixelSignals(s *Signals, rgb *imaging.RGB) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pixel signals panicked: %v", r)
		}
	}()
	if rgb.Width <= 0 || rgb.Height <= 0 {
		return fmt.Errorf("no pixels (%dx%d)", rgb.Width, rgb.Height)
	}
	small := rgb
	if rgb.Width != SpectralSize || rgb.Height != SpectralSize {
		small = imaging.ResizeBilinear(rgb, SpectralSize, SpectralSize)
	}
	s.PHash = Hash64(PHash(small))
	s.DHash = Hash64(DHash(small))
	s.Spectral = SpectralScore(small)
	s.Decoded = true
	return nil
}

func formatName(f string) string {
	if f == "" {
		return "unrecognised"
	}
	return f
}

// Hash64 is a 64-bit perceptual hash. It marshals to JSON (and text) as 16
// lower-case hex digits, so that no consumer rounds it to a float64.
type Hash64 uint64

// String returns the hash as 16 lower-case hex digits.
func (h Hash64) String() string { return fmt.Sprintf("%016x", uint64(h)) }

// MarshalText implements encoding.TextMarshaler.
func (h Hash64) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts 1 to 16
// hex digits.
func (h *Hash64) UnmarshalText(b []byte) error {
	if len(b) == 0 || len(b) > 16 {
		return fmt.Errorf("provenance: hash %q is not 1-16 hex digits", b)
	}
	v, err := strconv.ParseUint(string(b), 16, 64)
	if err != nil {
		return fmt.Errorf("provenance: hash %q: %w", b, err)
	}
	*h = Hash64(v)
	return nil
}

// meta collects metadata into s while parsing.
type meta struct {
	s        *Signals
	inflated int // bytes inflated so far, against maxInflateTotal
}

// warn records a warning, keeping at most maxWarnings.
func (m *meta) warn(format string, args ...any) {
	if len(m.s.Warnings) < maxWarnings {
		m.s.Warnings = append(m.s.Warnings, clean(fmt.Sprintf(format, args...), maxFieldLen))
	}
}

// guard runs fn, turning a panic into a warning naming what.
func (m *meta) guard(what string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			m.warn("%s: parser panic: %v", what, r)
		}
	}()
	fn()
}
