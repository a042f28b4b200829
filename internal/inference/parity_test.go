package inference_test

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/testenv"
)

// TestTorchParity runs dev images through the published stack (PIL, torchvision, PyTorch)
// and through the worker's path (libjpeg-turbo and PIL's resize in Go, ONNX Runtime) with the
// same ResNet-101 weights, and bounds the difference of the probabilities. The target is
// 0.005; the tensors are identical (internal/imaging asserts that), so what remains is
// PyTorch's and ONNX Runtime's float arithmetic, which differ in summation order.
func TestTorchParity(t *testing.T) {
	if testing.Short() {
		t.Skip("parity with PyTorch: skipped with -short")
	}
	testenv.ORT(t)
	if err := exec.Command("/usr/bin/python3", "-c", "import torch").Run(); err != nil {
		testenv.Missing(t, "PyTorch under /usr/bin/python3: %v", err)
	}
	dir := filepath.Join(testenv.Models(t, "resnet101"), "monet", "1.0.0")
	meta, _, err := inference.ReadMetadata(dir)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, sub := range []string{"monet", "other_artists/john_constable",
		"ai_monet_style/cyclegan-resnet_kaggle-exp2_konstantine25b",
		"photo"} {
		files = append(files, testenv.ArtImages(t, sub, 2)...)
	}
	var seed struct {
		Seed int `json:"seed"`
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "model.json"))
	json.Unmarshal(raw, &seed)
	args := append([]string{"testdata/torch_probs.py", meta.Arch, strconv.Itoa(seed.Seed)}, files...)
	out, err := exec.Command("/usr/bin/python3", args...).Output()
	if err != nil {
		t.Fatalf("torch: %v", err)
	}
	var want struct{ Probs []float64 }
	if err := json.Unmarshal(out, &want); err != nil || len(want.Probs) != len(files) {
		t.Fatalf("torch output %q: %v", out, err)
	}

	m, err := inference.Load(dir, inference.SessionConfig{Device: inference.CPU},
		testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	in := make([]float32, len(files)*m.InputLen())
	for i, f := range files {
		data, _ := os.ReadFile(f)
		if _, err := imaging.Preprocess(data, imaging.ImageNetSpec(224, 224),
			imaging.DefaultLimits(), imaging.Options{},
			in[i*m.InputLen():(i+1)*m.InputLen()]); err != nil {
			t.Fatal(err)
		}
	}
	logits, err := m.Run(in, len(files))
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for i, f := range files {
		d := math.Abs(inference.Sigmoid(logits[i]) - want.Probs[i])
		worst = math.Max(worst, d)
		if d > 1e-4 {
			t.Errorf("%s: ONNX Runtime %.6f, PyTorch %.6f", filepath.Base(f),
				inference.Sigmoid(logits[i]), want.Probs[i])
		}
	}
	t.Logf("largest probability difference over %d images: %.2g (target 0.005)", len(files),
		worst)
}
