// Package inference loads per-artist ONNX models and runs batches through ONNX Runtime.
//
// All cgo calls into ONNX Runtime live in this package. Sessions are created per model and
// device with explicit thread counts; they are safe for concurrent Run calls.
package inference

import (
	"fmt"
	"os"
	"sync"

	ort "github.com/yalue/onnxruntime_go"
)

var (
	initOnce sync.Once
	initErr  error
	initLib  string
)

// Init loads the ONNX Runtime shared library at libPath and creates the process-wide
// environment. Only the first call does work; later calls return its outcome, and fail if they
// name another library.
func Init(libPath string) error {
	initOnce.Do(func() {
		initLib = libPath
		if _, err := os.Stat(libPath); err != nil {
			initErr = fmt.Errorf("onnx runtime library %q: %w: %w", libPath, err, ErrRuntime)
			return
		}
		ort.SetSharedLibraryPath(libPath)
		if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
			initErr = fmt.Errorf("initialise onnx runtime from %q: %w: %w", libPath, err, ErrRuntime)
		}
	})
	if initErr == nil && libPath != initLib {
		return fmt.Errorf("onnx runtime already loaded from %q, asked for %q: %w",
			initLib, libPath, ErrRuntime)
	}
	return initErr
}

// Version returns the loaded ONNX Runtime's version.
func Version() string { return ort.GetVersion() }
