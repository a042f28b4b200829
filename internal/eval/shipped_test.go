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
	root := repoRoot(t)
	dir, err := ResolveModel(ShippedModel, filepath.Join(root, "models"))
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
	got, err := Run(context.Background(), m, Config{
		Positive: []string{filepath.Join(art, "monet")},
		Negative: []string{filepath.Join(art, "other_artists")},
		AI:       []string{filepath.Join(art, "ai_monet_style")},
		Split:    split, SplitPart: "test",
	})
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
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: this run %+v, eval.json %+v", c.name, c.got, c.want)
		}
	}

	var table strings.Builder
	if err := got.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	card, err := os.ReadFile(filepath.Join(root, "docs", "MODEL_CARD.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(card), table.String()) {
		t.Errorf("docs/MODEL_CARD.md does not quote this run's table:\n%s", table.String())
	}
}
