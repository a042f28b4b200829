package eval

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/testenv"
)

// ShippedModel is the model version under models/ that docs/MODEL_CARD.md describes.
const ShippedModel = "monet@0.1.0"

// repoRoot is the repository's top directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test source")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func loadModel(t testing.TB, dir string) *inference.Model {
	t.Helper()
	m, err := inference.Load(dir, inference.SessionConfig{Device: inference.CPU},
		testenv.Logger(t))
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func checkGolden(t *testing.T, m *inference.Model) {
	t.Helper()
	if _, err := CheckEmbedded(m); err != nil {
		t.Errorf("embedded metadata: %v", err)
	}
	res, err := CheckGolden(m)
	if err != nil {
		t.Fatalf("golden vectors: %v", err)
	}
	for _, r := range res {
		t.Logf("golden %s (%s): logit %.7g vs PyTorch %.7g (diff %.2g), probability %.7g",
			r.File, r.Label, r.GotLogit, r.Logit, r.LogitDiff(), r.GotProbability)
	}
}

// TestShippedModel re-runs the evaluation whose figures docs/MODEL_CARD.md publishes: the
// shipped model on its saved test split and on the AI images, through the worker's code.
// The counts must equal eval.json beside the model and the card must quote the same table.
func TestShippedModel(t *testing.T) {
	checkShipped(t, ShippedModel, "MODEL_CARD.md", func(art string) Config {
		return Config{
			Positive: []string{filepath.Join(art, "monet")},
			Negative: []string{filepath.Join(art, "other_artists")},
			AI:       []string{filepath.Join(art, "ai_monet_style")},
		}
	})
}

// TestShippedDetector does the same for the shipped AI-image detector, whose figures per
// generator docs/AI_DETECTION.md publishes.
func TestShippedDetector(t *testing.T) {
	checkShipped(t, ShippedDetector, "AI_DETECTION.md", func(art string) Config {
		return Config{
			Positive: []string{filepath.Join(art, "ai_monet_style"),
				filepath.Join(art, "ai_other_style")},
			Negative: []string{filepath.Join(art, "monet"), filepath.Join(art, "other_artists")},
		}
	})
}

// ShippedDetector is the AI-image detector under models/ that docs/AI_DETECTION.md describes.
const ShippedDetector = "ai-detector@0.1.0"

// checkShipped evaluates a shipped model on its test split with the folders cfg gives and
// compares the figures with eval.json beside it and the table with the one doc quotes.
func checkShipped(t *testing.T, spec, doc string, folders func(art string) Config) {
	root := repoRoot(t)
	dir, err := ResolveModel(spec, filepath.Join(root, "models"))
	if err != nil {
		t.Fatalf("shipped model: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() > 25<<20 {
		t.Errorf("shipped model.onnx is %d bytes, over the 25 MiB budget", st.Size())
	}
	testenv.ORT(t)
	art := testenv.ArtDir(t)
	m := loadModel(t, dir)
	if !m.Meta.Trained {
		t.Errorf("shipped model.json says trained=false")
	}
	checkGolden(t, m)

	raw, err := os.ReadFile(filepath.Join(dir, "eval.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want Report
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("eval.json: %v", err)
	}
	split, err := ReadSplit(filepath.Join(dir, "split.csv"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := folders(art)
	cfg.Split, cfg.SplitPart = split, "test"
	got, err := Run(context.Background(), m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Split.Used != got.Split.Listed {
		t.Errorf("scored %d of the %d test images the split lists", got.Split.Used,
			got.Split.Listed)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"model", got.Model, want.Model},
		{"confusion", [4]int{got.TP, got.FP, got.TN, got.FN},
			[4]int{want.TP, want.FP, want.TN, want.FN}},
		{"rates", [4]float64{got.Accuracy, got.Precision, got.Recall, got.F1},
			[4]float64{want.Accuracy, want.Precision, want.Recall, want.F1}},
		{"ai", got.AI, want.AI},
		{"ai_total", got.AITotal, want.AITotal},
		{"groups", got.Groups, want.Groups},
		{"split", got.Split, want.Split},
		{"detector", got.Detector, want.Detector},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: this run %+v, eval.json %+v", c.name, c.got, c.want)
		}
	}

	var table strings.Builder
	if err := got.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "docs", doc))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), table.String()) {
		t.Errorf("docs/%s does not quote this run's table:\n%s", doc, table.String())
	}
}

// ShippedArtists are the artist models under models/ whose fusion docs/ATTRIBUTION.md
// measures, with the folder of each artist's paintings under the shared data set.
var ShippedArtists = []struct{ Spec, Images string }{
	{"cezanne@0.1.0", "other_artists/paul_cezanne"},
	{"monet@0.1.0", "monet"},
	{"vangogh@0.1.0", "other_artists/vincent_van_gogh"},
}

// TestShippedAttribution re-runs the attribution figure of docs/ATTRIBUTION.md: the shipped
// artist models rank the held-out paintings of their artists. The counts must equal
// models/attribution.json and the document must quote the same table.
func TestShippedAttribution(t *testing.T) {
	root := repoRoot(t)
	testenv.ORT(t)
	art := testenv.ArtDir(t)
	cfg := AttributionConfig{Images: map[string][]string{}}
	for _, a := range ShippedArtists {
		dir, err := ResolveModel(a.Spec, filepath.Join(root, "models"))
		if err != nil {
			t.Fatalf("shipped model: %v", err)
		}
		m := loadModel(t, dir)
		split, err := ReadSplit(filepath.Join(dir, "split.csv"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Models, cfg.Splits = append(cfg.Models, m), append(cfg.Splits, split)
		cfg.Images[m.Meta.Artist] = []string{filepath.Join(art, a.Images)}
	}
	got, err := Attribution(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, "models", "attribution.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want AttributionReport
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatalf("attribution.json: %v", err)
	}
	want.Images = nil
	if !reflect.DeepEqual(got, &want) {
		t.Errorf("this run %+v\nmodels/attribution.json %+v", got, want)
	}
	var table strings.Builder
	if err := got.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(filepath.Join(root, "docs", "ATTRIBUTION.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(text), table.String()) {
		t.Errorf("docs/ATTRIBUTION.md does not quote this run's table:\n%s", table.String())
	}
}
