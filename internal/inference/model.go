package inference

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"
	ort "github.com/yalue/onnxruntime_go"
)

// SessionConfig sets how sessions are created.
type SessionConfig struct {
	// Device to run on. Default CPU.
	Device Device
	// AllowCPUFallback lets a model load on the CPU when its device cannot be initialised.
	// Default false: the load fails instead.
	AllowCPUFallback bool
	// IntraOpThreads and InterOpThreads set ONNX Runtime's thread pools; 0 keeps its default.
	IntraOpThreads int
	InterOpThreads int
	// GraphOptimization is "all" (default), "extended", "basic" or "disabled".
	GraphOptimization string
	// DisableCPUArena turns off ONNX Runtime's CPU memory arena, which keeps freed memory
	// for reuse: off trades speed for a smaller resident size when many models come and go.
	DisableCPUArena bool
	// NoSpinning stops ONNX Runtime's pool threads from busy-waiting for work between
	// operators and runs (their default). On an idle 2-core machine the worker was faster
	// with spinning in 4 of 5 benchmark runs; while other jobs shared the cores it was
	// faster without (docs/BENCHMARKS.md).
	NoSpinning bool
}

func (sc SessionConfig) optLevel() (ort.GraphOptimizationLevel, error) {
	switch sc.GraphOptimization {
	case "", "all":
		return ort.GraphOptimizationLevelEnableAll, nil
	case "extended":
		return ort.GraphOptimizationLevelEnableExtended, nil
	case "basic":
		return ort.GraphOptimizationLevelEnableBasic, nil
	case "disabled":
		return ort.GraphOptimizationLevelDisableAll, nil
	}
	return 0, fmt.Errorf("graph optimisation %q: want all, extended, basic or disabled",
		sc.GraphOptimization)
}

// Model is one loaded model version. Run is safe for concurrent use; Close must be called once
// no Run is in progress.
type Model struct {
	Meta Metadata
	// RawMeta is model.json as read.
	RawMeta json.RawMessage
	// Dir is where model.onnx and model.json were read from.
	Dir string
	// Device is where the session actually runs (the CPU after a fallback).
	Device Device
	// FellBack is true when the session was asked for another device and runs on the CPU.
	FellBack bool
	// LoadTime is how long verification and session creation took.
	LoadTime time.Duration

	session *ort.DynamicAdvancedSession
	perItem int
}

// Load verifies dir/model.onnx against dir/model.json (SHA-256, input and output names and
// shapes) and creates a session for it. A model that fails any check is refused with
// ErrBadModel and nothing is left loaded.
func Load(dir string, sc SessionConfig, log zerolog.Logger) (*Model, error) {
	start := time.Now()
	meta, raw, err := ReadMetadata(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "model.onnx")
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read model %s: %w: %w", path, err, ErrBadModel)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != meta.SHA256 {
		return nil, fmt.Errorf("model %s: sha256 %s, metadata says %s: %w",
			path, got, meta.SHA256, ErrBadModel)
	}
	if err := checkIO(data, meta); err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}

	m := &Model{Meta: meta, RawMeta: raw, Dir: dir, Device: sc.Device}
	m.perItem = int(meta.Input.Shape[1] * meta.Input.Shape[2] * meta.Input.Shape[3])
	m.session, err = newSession(data, meta, sc, log, &m.Device, &m.FellBack)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	m.LoadTime = time.Since(start)
	return m, nil
}

// checkIO compares the graph's inputs and outputs with the metadata.
func checkIO(data []byte, meta Metadata) error {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return fmt.Errorf("read graph inputs and outputs: %w: %w", err, ErrBadModel)
	}
	if len(ins) != 1 || len(outs) != 1 {
		return fmt.Errorf("graph has %d inputs and %d outputs, want 1 and 1: %w",
			len(ins), len(outs), ErrBadModel)
	}
	for _, c := range []struct {
		kind string
		got  ort.InputOutputInfo
		want TensorSpec
	}{{"input", ins[0], meta.Input}, {"output", outs[0], meta.Output}} {
		if c.got.Name != c.want.Name {
			return fmt.Errorf("graph %s is named %q, metadata says %q: %w",
				c.kind, c.got.Name, c.want.Name, ErrBadModel)
		}
		if c.got.DataType != ort.TensorElementDataTypeFloat {
			return fmt.Errorf("graph %s %q has element type %v, want float32: %w",
				c.kind, c.got.Name, c.got.DataType, ErrBadModel)
		}
		if !shapeMatches(c.got.Dimensions, c.want.Shape) {
			return fmt.Errorf("graph %s %q has shape %v, metadata says %v: %w",
				c.kind, c.got.Name, c.got.Dimensions, c.want.Shape, ErrBadModel)
		}
	}
	return nil
}

// shapeMatches treats -1 on either side as a dynamic axis; the batch axis must be dynamic.
func shapeMatches(got ort.Shape, want []int64) bool {
	if len(got) != len(want) || got[0] != -1 {
		return false
	}
	for i := 1; i < len(got); i++ {
		if got[i] != want[i] && got[i] != -1 && want[i] != -1 {
			return false
		}
	}
	return true
}

func newSession(data []byte, meta Metadata, sc SessionConfig, log zerolog.Logger,
	dev *Device, fellBack *bool) (*ort.DynamicAdvancedSession, error) {
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w: %w", err, ErrRuntime)
	}
	defer opts.Destroy()
	if sc.IntraOpThreads > 0 {
		if err := opts.SetIntraOpNumThreads(sc.IntraOpThreads); err != nil {
			return nil, fmt.Errorf("set intra-op threads %d: %w", sc.IntraOpThreads, err)
		}
	}
	if sc.InterOpThreads > 0 {
		if err := opts.SetInterOpNumThreads(sc.InterOpThreads); err != nil {
			return nil, fmt.Errorf("set inter-op threads %d: %w", sc.InterOpThreads, err)
		}
	}
	level, err := sc.optLevel()
	if err != nil {
		return nil, err
	}
	if err := opts.SetGraphOptimizationLevel(level); err != nil {
		return nil, fmt.Errorf("set graph optimisation: %w", err)
	}
	if sc.DisableCPUArena {
		if err := opts.SetCpuMemArena(false); err != nil {
			return nil, fmt.Errorf("disable cpu arena: %w", err)
		}
	}

	if sc.NoSpinning {
		for _, k := range []string{"session.intra_op.allow_spinning",
			"session.inter_op.allow_spinning"} {
			if err := opts.AddSessionConfigEntry(k, "0"); err != nil {
				return nil, fmt.Errorf("set %s=0: %w", k, err)
			}
		}
	}

	if sc.Device.Kind != "cpu" && sc.Device.Kind != "" {
		if err := appendGPU(opts, sc.Device); err != nil {
			if !sc.AllowCPUFallback {
				return nil, fmt.Errorf("device %s: %w: %w", sc.Device, err, ErrDeviceUnavailable)
			}
			// Loud on purpose: a GPU worker silently running on the CPU is a capacity outage.
			log.Error().Err(err).Str("device", sc.Device.String()).
				Str("model", meta.Artist).Str("model_version", meta.Version).
				Msg("GPU could not be initialised; FALLING BACK TO CPU")
			*dev, *fellBack = CPU, true
		}
	}

	s, err := ort.NewDynamicAdvancedSessionWithONNXData(data,
		[]string{meta.Input.Name}, []string{meta.Output.Name}, opts)
	if err != nil {
		return nil, fmt.Errorf("create session: %w: %w", err, ErrRuntime)
	}
	return s, nil
}

// ProbeDevice checks, without a model, that the execution provider of sc.Device can be
// attached to a session. Workers call it at start-up, so that a GPU that cannot be used is
// reported once, loudly, instead of failing every model load. It returns the device the
// sessions will use: sc.Device, or the CPU when the probe failed and fallback is allowed.
func ProbeDevice(sc SessionConfig) (Device, error) {
	if sc.Device.Kind == "cpu" || sc.Device.Kind == "" {
		return CPU, nil
	}
	opts, err := ort.NewSessionOptions()
	if err != nil {
		return Device{}, fmt.Errorf("session options: %w: %w", err, ErrRuntime)
	}
	defer opts.Destroy()
	if err := appendGPU(opts, sc.Device); err != nil {
		if sc.AllowCPUFallback {
			return CPU, fmt.Errorf("device %s: %w (falling back to the CPU)", sc.Device, err)
		}
		return Device{}, fmt.Errorf("device %s: %w: %w", sc.Device, err, ErrDeviceUnavailable)
	}
	return sc.Device, nil
}

// appendGPU asks for the device's execution provider. With a CPU-only ONNX Runtime build
// this fails ("not enabled in this build"), which is what the fallback logic handles.
func appendGPU(opts *ort.SessionOptions, d Device) error {
	if d.Kind == "tensorrt" {
		trt, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return fmt.Errorf("tensorrt provider options: %w", err)
		}
		defer trt.Destroy()
		if err := trt.Update(map[string]string{"device_id": fmt.Sprint(d.Index)}); err != nil {
			return fmt.Errorf("tensorrt provider device_id %d: %w", d.Index, err)
		}
		if err := opts.AppendExecutionProviderTensorRT(trt); err != nil {
			return fmt.Errorf("append tensorrt provider: %w", err)
		}
		return nil
	}
	index := d.Index
	cuda, err := ort.NewCUDAProviderOptions()
	if err != nil {
		return fmt.Errorf("cuda provider options: %w", err)
	}
	defer cuda.Destroy()
	if err := cuda.Update(map[string]string{"device_id": fmt.Sprint(index)}); err != nil {
		return fmt.Errorf("cuda provider device_id %d: %w", index, err)
	}
	if err := opts.AppendExecutionProviderCUDA(cuda); err != nil {
		return fmt.Errorf("append cuda provider: %w", err)
	}
	return nil
}

// InputLen is the number of float32 values one image takes in the input tensor.
func (m *Model) InputLen() int { return m.perItem }

// Run scores a batch: input holds n images back to back in the model's input layout, and the
// result holds n logits. cgo calls cannot be cancelled, so callers bound the batch size.
func (m *Model) Run(input []float32, n int) ([]float32, error) {
	if n <= 0 || len(input) != n*m.perItem {
		return nil, fmt.Errorf("run %s@%s: input has %d values for %d images of %d: %w",
			m.Meta.Artist, m.Meta.Version, len(input), n, m.perItem, ErrRuntime)
	}
	shape := ort.NewShape(int64(n), m.Meta.Input.Shape[1], m.Meta.Input.Shape[2],
		m.Meta.Input.Shape[3])
	in, err := ort.NewTensor(shape, input)
	if err != nil {
		return nil, fmt.Errorf("run %s@%s: input tensor: %w: %w",
			m.Meta.Artist, m.Meta.Version, err, ErrRuntime)
	}
	defer in.Destroy()
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), 1))
	if err != nil {
		return nil, fmt.Errorf("run %s@%s: output tensor: %w: %w",
			m.Meta.Artist, m.Meta.Version, err, ErrRuntime)
	}
	defer out.Destroy()
	if err := m.session.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
		return nil, fmt.Errorf("run %s@%s on %d images: %w: %w",
			m.Meta.Artist, m.Meta.Version, n, err, ErrRuntime)
	}
	logits := make([]float32, n)
	copy(logits, out.GetData())
	return logits, nil
}

// Close releases the session.
func (m *Model) Close() error {
	if m.session == nil {
		return nil
	}
	err := m.session.Destroy()
	m.session = nil
	return err
}

// Sigmoid maps a logit to a probability, in float64 so that the stored score is exact for
// the float32 logit.
func Sigmoid(logit float32) float64 {
	return 1 / (1 + math.Exp(-float64(logit)))
}
