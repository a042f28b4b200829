package inference

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/artauth/artauth/internal/imaging"
)

// MetadataSchema is the version of model.json this package reads.
const MetadataSchema = "artauth.model/v1"

// TensorSpec names a model input or output and gives its shape; -1 marks a dynamic axis.
type TensorSpec struct {
	Name  string  `json:"name"`
	Shape []int64 `json:"shape"`
	DType string  `json:"dtype"`
}

// Preprocessing says how images must be turned into the model's input tensor.
type Preprocessing struct {
	Resize        [2]int     `json:"resize"` // height, width
	Interpolation string     `json:"interpolation"`
	Antialias     bool       `json:"antialias"`
	Color         string     `json:"color"`
	Scale         float64    `json:"scale"`
	Mean          [3]float32 `json:"mean"`
	Std           [3]float32 `json:"std"`
	Layout        string     `json:"layout"`
}

// Spec is the imaging spec that turns an image into this input.
func (p Preprocessing) Spec() imaging.Spec {
	return imaging.Spec{Height: p.Resize[0], Width: p.Resize[1], Mean: p.Mean, Std: p.Std}
}

// DetectorArtist is the registry name of the AI-image detector: a binary model ("AI-made or
// human-made painting?") trained, registered and activated like an artist model, whose
// positive class is "AI-made". It is not an artist and cannot be claimed.
const DetectorArtist = "ai-detector"

// Metadata is the model.json file that sits beside every model.onnx.
type Metadata struct {
	Schema        string        `json:"schema"`
	Artist        string        `json:"artist"`
	Version       string        `json:"version"`
	Arch          string        `json:"arch"`
	Trained       bool          `json:"trained"`
	SHA256        string        `json:"sha256"`
	Threshold     float64       `json:"threshold"`
	Input         TensorSpec    `json:"input"`
	Output        TensorSpec    `json:"output"`
	Preprocessing Preprocessing `json:"preprocessing"`
	Notes         string        `json:"notes,omitempty"`
}

var hexRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ReadMetadata reads and checks dir/model.json.
func ReadMetadata(dir string) (Metadata, []byte, error) {
	path := filepath.Join(dir, "model.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		return Metadata{}, nil, fmt.Errorf("read model metadata %s: %w: %w", path, err, ErrBadModel)
	}
	var m Metadata
	if err := json.Unmarshal(raw, &m); err != nil {
		return m, nil, fmt.Errorf("parse model metadata %s: %w: %w", path, err, ErrBadModel)
	}
	if err := m.validate(); err != nil {
		return m, nil, fmt.Errorf("model metadata %s: %w: %w", path, err, ErrBadModel)
	}
	return m, raw, nil
}

func (m Metadata) validate() error {
	p := m.Preprocessing
	switch {
	case m.Schema != MetadataSchema:
		return fmt.Errorf("schema %q, want %q", m.Schema, MetadataSchema)
	case m.Artist == "" || m.Version == "":
		return fmt.Errorf("artist %q version %q: both required", m.Artist, m.Version)
	case !hexRE.MatchString(m.SHA256):
		return fmt.Errorf("sha256 %q: want 64 lowercase hex digits", m.SHA256)
	case m.Threshold <= 0 || m.Threshold >= 1:
		return fmt.Errorf("threshold %v: want 0 < t < 1", m.Threshold)
	case len(m.Input.Shape) != 4 || m.Input.Shape[1] != 3:
		return fmt.Errorf("input shape %v: want [N, 3, H, W]", m.Input.Shape)
	case int64(p.Resize[0]) != m.Input.Shape[2] || int64(p.Resize[1]) != m.Input.Shape[3]:
		return fmt.Errorf("preprocessing resize %v does not match input shape %v",
			p.Resize, m.Input.Shape)
	case len(m.Output.Shape) != 2 || m.Output.Shape[1] != 1:
		return fmt.Errorf("output shape %v: want [N, 1] (one logit)", m.Output.Shape)
	case p.Interpolation != "bilinear" || !p.Antialias || p.Color != "RGB" || p.Layout != "NCHW":
		return fmt.Errorf("preprocessing %s/antialias=%v/%s/%s: only antialiased bilinear, "+
			"RGB, NCHW is implemented", p.Interpolation, p.Antialias, p.Color, p.Layout)
	}
	for i, s := range p.Std {
		if s <= 0 {
			return fmt.Errorf("preprocessing std[%d] = %v: want > 0", i, s)
		}
	}
	return nil
}
