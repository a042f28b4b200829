package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"

	ort "github.com/yalue/onnxruntime_go"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
)

// GoldenSchema is the version of golden.json this package reads.
const GoldenSchema = "artauth.golden/v1"

// Golden-vector tolerances. The Go preprocessing reproduces torchvision's test transform bit
// for bit for JPEG, so the input tensors are identical and only the network's arithmetic
// differs: PyTorch and ONNX Runtime order their float32 sums differently (ONNX Runtime also
// fuses Conv+Add+ReLU), which moves ResNet logits by about 1e-5 at most; the shipped
// ResNet-18 measures at most 4.8e-7 on its golden images (x86-64, ONNX Runtime 1.24). The
// bounds leave a wide margin for other CPUs' kernels; a preprocessing or export mistake
// (another resize filter, a missing normalisation, a lost temperature) moves logits by 1e-2
// or more.
const (
	GoldenLogitTolerance = 1e-4
	GoldenProbTolerance  = 2.5e-5 // the sigmoid's slope is at most 1/4
)

// GoldenFile is golden.json, written beside a trained model by training/train.py.
type GoldenFile struct {
	Schema      string        `json:"schema"`
	ModelSHA256 string        `json:"model_sha256"`
	ComputedBy  string        `json:"computed_by"`
	Images      []GoldenImage `json:"images"`
}

// GoldenImage is one golden image (a file relative to the model directory) with PyTorch's
// logit and probability for it.
type GoldenImage struct {
	File        string  `json:"file"`
	SHA256      string  `json:"sha256"`
	Label       string  `json:"label"`
	Logit       float64 `json:"logit"`
	Probability float64 `json:"probability"`
}

// GoldenResult compares one golden image's expected and computed values.
type GoldenResult struct {
	GoldenImage
	GotLogit       float32
	GotProbability float64
}

// LogitDiff is |computed - expected| logit.
func (r GoldenResult) LogitDiff() float64 { return math.Abs(float64(r.GotLogit) - r.Logit) }

// ProbDiff is |computed - expected| probability.
func (r GoldenResult) ProbDiff() float64 { return math.Abs(r.GotProbability - r.Probability) }

// CheckGolden scores the golden images of m.Dir/golden.json through the worker's
// preprocessing and m, and fails when a logit or probability differs from PyTorch's by more
// than the tolerances. It returns every comparison, also on failure.
func CheckGolden(m *inference.Model) ([]GoldenResult, error) {
	path := filepath.Join(m.Dir, "golden.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("golden vectors: %w", err)
	}
	var g GoldenFile
	if err := json.Unmarshal(raw, &g); err != nil {
		return nil, fmt.Errorf("golden vectors %s: %w", path, err)
	}
	switch {
	case g.Schema != GoldenSchema:
		return nil, fmt.Errorf("golden vectors %s: schema %q, want %q", path, g.Schema,
			GoldenSchema)
	case g.ModelSHA256 != m.Meta.SHA256:
		return nil, fmt.Errorf("golden vectors %s are for model sha256 %s, this model is %s",
			path, g.ModelSHA256, m.Meta.SHA256)
	case len(g.Images) == 0:
		return nil, fmt.Errorf("golden vectors %s list no images", path)
	}
	per := m.InputLen()
	input := make([]float32, len(g.Images)*per)
	spec := Spec(m.Meta)
	for i, im := range g.Images {
		file := filepath.Join(m.Dir, filepath.FromSlash(im.File))
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("golden image: %w", err)
		}
		sum := sha256.Sum256(data)
		if got := hex.EncodeToString(sum[:]); got != im.SHA256 {
			return nil, fmt.Errorf("golden image %s has sha256 %s, golden.json says %s",
				file, got, im.SHA256)
		}
		if _, err := imaging.Preprocess(data, spec, imaging.DefaultLimits(), imaging.Options{},
			input[i*per:(i+1)*per]); err != nil {
			return nil, fmt.Errorf("golden image %s: %w", file, err)
		}
	}
	logits, err := m.Run(input, len(g.Images))
	if err != nil {
		return nil, fmt.Errorf("golden vectors: %w", err)
	}
	res := make([]GoldenResult, len(g.Images))
	var errs []error
	for i, im := range g.Images {
		r := GoldenResult{GoldenImage: im, GotLogit: logits[i],
			GotProbability: inference.Sigmoid(logits[i])}
		res[i] = r
		if r.LogitDiff() > GoldenLogitTolerance || r.ProbDiff() > GoldenProbTolerance {
			errs = append(errs, fmt.Errorf("golden image %s: logit %.7g, probability %.7g; "+
				"PyTorch: %.7g, %.7g (tolerance %g, %g)", im.File, r.GotLogit,
				r.GotProbability, im.Logit, im.Probability, GoldenLogitTolerance,
				GoldenProbTolerance))
		}
	}
	return res, errors.Join(errs...)
}

// EmbeddedMetadata returns the metadata_props stored inside an ONNX file, as ONNX Runtime
// reads them (inference.Init must have been called).
func EmbeddedMetadata(onnxPath string) (map[string]string, error) {
	data, err := os.ReadFile(onnxPath)
	if err != nil {
		return nil, fmt.Errorf("embedded metadata: %w", err)
	}
	md, err := ort.GetModelMetadataWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("embedded metadata of %s: %w", onnxPath, err)
	}
	defer md.Destroy()
	keys, err := md.GetCustomMetadataMapKeys()
	if err != nil {
		return nil, fmt.Errorf("embedded metadata keys of %s: %w", onnxPath, err)
	}
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		v, _, err := md.LookupCustomMetadataMap(k)
		if err != nil {
			return nil, fmt.Errorf("embedded metadata %q of %s: %w", k, onnxPath, err)
		}
		out[k] = v
	}
	return out, nil
}

// CheckEmbedded compares the metadata inside m's ONNX file with its model.json: schema,
// artist, version, threshold and the input size must agree, so that the file alone says how
// to use it.
func CheckEmbedded(m *inference.Model) (map[string]string, error) {
	path := filepath.Join(m.Dir, "model.onnx")
	md, err := EmbeddedMetadata(path)
	if err != nil {
		return nil, err
	}
	var pre struct {
		Resize [2]int `json:"resize"`
	}
	if err := json.Unmarshal([]byte(md["preprocessing"]), &pre); err != nil {
		return md, fmt.Errorf("%s: embedded preprocessing %q: %w", path, md["preprocessing"], err)
	}
	th, err := strconv.ParseFloat(md["threshold"], 64)
	if err != nil {
		return md, fmt.Errorf("%s: embedded threshold %q: %w", path, md["threshold"], err)
	}
	for _, c := range []struct{ key, got, want string }{
		{"artauth.schema", md["artauth.schema"], inference.MetadataSchema},
		{"artist", md["artist"], m.Meta.Artist},
		{"version", md["version"], m.Meta.Version},
		{"threshold", strconv.FormatFloat(th, 'g', -1, 64),
			strconv.FormatFloat(m.Meta.Threshold, 'g', -1, 64)},
		{"preprocessing.resize", fmt.Sprint(pre.Resize), fmt.Sprint(m.Meta.Preprocessing.Resize)},
	} {
		if c.got != c.want {
			return md, fmt.Errorf("%s: embedded %s is %q, model.json says %q", path, c.key,
				c.got, c.want)
		}
	}
	return md, nil
}
