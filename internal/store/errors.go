package store

import "errors"

// ErrNotFound is returned when the row asked for does not exist.
var ErrNotFound = errors.New("not found")

// ErrDuplicateObject is returned when an S3 object version was already received.
var ErrDuplicateObject = errors.New("object version already received")

// ErrModelConflict is returned when a model version is registered again with another hash:
// versions are immutable.
var ErrModelConflict = errors.New("model version exists with another sha256")
