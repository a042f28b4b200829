package inference_test

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/testenv"
)

// copyModel copies a model version directory so a test can damage it.
func copyModel(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "m")
	os.MkdirAll(dst, 0o755)
	for _, f := range []string{"model.onnx", "model.json"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dst, f), b, 0o644)
	}
	return dst
}

func editJSON(t *testing.T, dir, from, to string) {
	t.Helper()
	p := filepath.Join(dir, "model.json")
	b, _ := os.ReadFile(p)
	if !strings.Contains(string(b), from) {
		t.Fatalf("model.json lacks %q", from)
	}
	os.WriteFile(p, []byte(strings.Replace(string(b), from, to, 1)), 0o644)
}

func TestModel(t *testing.T) {
	testenv.ORT(t)
	tiny := filepath.Join(testenv.Models(t, "tiny"), "monet", "1.0.0")
	log := testenv.Logger(t)
	cpu := inference.SessionConfig{Device: inference.CPU, IntraOpThreads: 1}

	t.Run("BatchEqualsSingles", func(t *testing.T) {
		m, err := inference.Load(tiny, cpu, log)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		n := 3
		input := make([]float32, n*m.InputLen())
		for i := range input {
			input[i] = float32(math.Sin(float64(i) * 0.001))
		}
		batch, err := m.Run(input, n)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			one, err := m.Run(input[i*m.InputLen():(i+1)*m.InputLen()], 1)
			if err != nil {
				t.Fatal(err)
			}
			if d := math.Abs(float64(one[0] - batch[i])); d > 1e-5 {
				t.Fatalf("image %d: batch logit %v, single %v", i, batch[i], one[0])
			}
		}
		if batch[0] == batch[1] {
			t.Fatalf("different inputs gave the same logit %v: is the graph wired?", batch[0])
		}
	})

	t.Run("SessionOptionsKeepResults", func(t *testing.T) {
		// Every session knob the worker exposes is accepted by ONNX Runtime and leaves the
		// logits as they are.
		input := make([]float32, 2*3*224*224)
		for i := range input {
			input[i] = float32(math.Cos(float64(i) * 0.01))
		}
		var want []float32
		for _, sc := range []inference.SessionConfig{cpu,
			{Device: inference.CPU, IntraOpThreads: 2, InterOpThreads: 1, NoSpinning: true,
				DisableCPUArena: true, GraphOptimization: "basic"}} {
			m, err := inference.Load(tiny, sc, log)
			if err != nil {
				t.Fatalf("%+v: %v", sc, err)
			}
			if m.InputLen()*2 != len(input) {
				t.Fatalf("tiny model input %d values, test assumes %d", m.InputLen(), len(input)/2)
			}
			got, err := m.Run(input, 2)
			m.Close()
			if err != nil {
				t.Fatalf("%+v: %v", sc, err)
			}
			if want == nil {
				want = got
			} else if math.Abs(float64(got[0]-want[0])) > 1e-5 ||
				math.Abs(float64(got[1]-want[1])) > 1e-5 {
				t.Fatalf("%+v: logits %v, default session %v", sc, got, want)
			}
		}
	})

	t.Run("WrongInputLength", func(t *testing.T) {
		m, err := inference.Load(tiny, cpu, log)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if _, err := m.Run(make([]float32, 10), 1); !errors.Is(err, inference.ErrRuntime) {
			t.Fatalf("err %v, want ErrRuntime", err)
		}
	})

	t.Run("HashMismatchRefused", func(t *testing.T) {
		dir := copyModel(t, tiny)
		f, _ := os.OpenFile(filepath.Join(dir, "model.onnx"), os.O_APPEND|os.O_WRONLY, 0)
		f.Write([]byte{0})
		f.Close()
		_, err := inference.Load(dir, cpu, log)
		if !errors.Is(err, inference.ErrBadModel) || !strings.Contains(err.Error(), "sha256") {
			t.Fatalf("err %v, want ErrBadModel naming the sha256", err)
		}
	})

	t.Run("CorruptFileRefused", func(t *testing.T) {
		dir := copyModel(t, tiny)
		garbage := []byte("this is not an onnx graph")
		os.WriteFile(filepath.Join(dir, "model.onnx"), garbage, 0o644)
		m, _, _ := inference.ReadMetadata(dir)
		editJSON(t, dir, m.SHA256, sha256hex(garbage))
		if _, err := inference.Load(dir, cpu, log); !errors.Is(err, inference.ErrBadModel) {
			t.Fatalf("err %v, want ErrBadModel", err)
		}
	})

	t.Run("ShapeMismatchRefused", func(t *testing.T) {
		dir := copyModel(t, tiny)
		editJSON(t, dir, `"name": "image"`, `"name": "pixels"`)
		_, err := inference.Load(dir, cpu, log)
		if !errors.Is(err, inference.ErrBadModel) || !strings.Contains(err.Error(), "pixels") {
			t.Fatalf("err %v, want ErrBadModel naming the input", err)
		}
	})

	t.Run("CUDAWithoutFallbackFails", func(t *testing.T) {
		sc := cpu
		sc.Device = inference.Device{Kind: "cuda", Index: 0}
		_, err := inference.Load(tiny, sc, log)
		if !errors.Is(err, inference.ErrDeviceUnavailable) {
			t.Skipf("CUDA initialised here (%v): this check is for CPU-only machines", err)
		}
	})

	t.Run("CUDAFallbackIsLoud", func(t *testing.T) {
		var logged strings.Builder
		sc := cpu
		sc.Device = inference.Device{Kind: "cuda", Index: 1}
		sc.AllowCPUFallback = true
		m, err := inference.Load(tiny, sc, zerolog.New(&logged))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if !m.FellBack {
			t.Skip("CUDA initialised here: no fallback to observe")
		}
		if m.Device != inference.CPU || !strings.Contains(logged.String(), `"level":"error"`) ||
			!strings.Contains(logged.String(), "FALLING BACK TO CPU") {
			t.Fatalf("device %s, log %q", m.Device, logged.String())
		}
	})
}

func TestParseDevice(t *testing.T) {
	for in, want := range map[string]string{"cpu": "cpu", "CUDA": "cuda:0", "cuda:3": "cuda:3",
		"tensorrt:1": "tensorrt:1"} {
		d, err := inference.ParseDevice(in)
		if err != nil || d.String() != want {
			t.Errorf("ParseDevice(%q) = %v, %v; want %s", in, d, err, want)
		}
	}
	for _, in := range []string{"gpu", "cuda:-1", "cuda:x", "", "rocm:0"} {
		if _, err := inference.ParseDevice(in); err == nil {
			t.Errorf("ParseDevice(%q): want an error", in)
		}
	}
}

func TestParseDevices(t *testing.T) {
	ds, err := inference.ParseDevices("cpu, cuda:1")
	if err != nil || len(ds) != 2 || ds[1].String() != "cuda:1" {
		t.Fatalf("%v, %v", ds, err)
	}
	if _, err := inference.ParseDevices("cuda:0,cuda:0"); err == nil {
		t.Fatal("a device listed twice: want an error")
	}
}

func TestProbeDevice(t *testing.T) {
	testenv.ORT(t)
	if d, err := inference.ProbeDevice(inference.SessionConfig{Device: inference.CPU}); err != nil ||
		d != inference.CPU {
		t.Fatalf("cpu: %v, %v", d, err)
	}
	gpu := inference.SessionConfig{Device: inference.Device{Kind: "cuda", Index: 0}}
	d, err := inference.ProbeDevice(gpu)
	if err == nil {
		t.Skipf("CUDA usable here (%v): this check is for CPU-only builds", d)
	}
	if !errors.Is(err, inference.ErrDeviceUnavailable) {
		t.Fatalf("without fallback: %v, want ErrDeviceUnavailable", err)
	}
	gpu.AllowCPUFallback = true
	if d, err := inference.ProbeDevice(gpu); err == nil || d != inference.CPU {
		t.Fatalf("with fallback: %v, %v; want the CPU and the reason", d, err)
	}
}
