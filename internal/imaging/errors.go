package imaging

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors. Every error returned by this package wraps exactly one of
// them (test with errors.Is); the message names the offending value.
var (
	// ErrUnsupportedFormat means the data is not in a supported container
	// (JPEG, PNG, WebP, TIFF, GIF) or uses a feature of it that the decoders
	// here do not implement (for example 12-bit or lossless JPEG, animated
	// WebP, JPEG-compressed TIFF).
	ErrUnsupportedFormat = errors.New("unsupported image format")

	// ErrTooLarge means the input exceeds a Limits value: byte size, pixel
	// count from the header, or a decoder resource limit (progressive JPEG
	// scan count).
	ErrTooLarge = errors.New("image too large")

	// ErrCorrupt means the data is truncated or malformed, or a decoder
	// failed (including a recovered decoder panic).
	ErrCorrupt = errors.New("corrupt image")
)

// wrapErr returns an error with message "<msg>: <sentinel>" wrapping only
// sentinel. Causes from other packages are formatted into msg with %v, never
// wrapped, so that errors.Is matches exactly one sentinel.
func wrapErr(sentinel error, format string, args ...any) error {
	return fmt.Errorf("imaging: %s: %w", fmt.Sprintf(format, args...), sentinel)
}

// classifyDecodeErr maps an error from a Go image decoder to one of the
// sentinels. Decoder packages report unimplemented features with an error
// type or message containing "unsupported"; everything else (format errors,
// unexpected EOF) is treated as corrupt data.
func classifyDecodeErr(f Format, err error) error {
	if errors.Is(err, ErrUnsupportedFormat) || errors.Is(err, ErrTooLarge) ||
		errors.Is(err, ErrCorrupt) {
		return err
	}
	msg := err.Error()
	if strings.Contains(strings.ToLower(msg), "unsupported") {
		return wrapErr(ErrUnsupportedFormat, "%s: %v", f, err)
	}
	return wrapErr(ErrCorrupt, "%s: %v", f, err)
}
