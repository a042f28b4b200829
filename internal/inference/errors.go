package inference

import "errors"

var (
	// ErrUnknownArtist is returned when no model exists for the artist asked for. Permanent.
	ErrUnknownArtist = errors.New("no model for artist")
	// ErrBadModel is returned for a model whose file or metadata is unusable: wrong hash,
	// wrong shapes, unreadable metadata.
	ErrBadModel = errors.New("bad model")
	// ErrDeviceUnavailable is returned when the execution device asked for cannot be used and
	// CPU fallback is not allowed.
	ErrDeviceUnavailable = errors.New("execution device unavailable")
	// ErrRuntime is returned when ONNX Runtime cannot be loaded or fails a run.
	ErrRuntime = errors.New("onnx runtime")
)
