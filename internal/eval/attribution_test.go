package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/testenv"
)

// copyImages copies files into a new folder and returns it with the files' SHA-256.
func copyImages(t *testing.T, files []string) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var sums []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
		s := sha256.Sum256(b)
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	return dir, sums
}

// TestAttribution runs the ranking with two real (untrained) models through ONNX Runtime:
// the counts must add up, every ranking must hold both artists with shares summing to 1, and
// an image a model's split puts in training must be skipped.
func TestAttribution(t *testing.T) {
	testenv.ORT(t)
	root := testenv.Models(t, "tiny")
	monet := loadModel(t, filepath.Join(root, "monet", "1.0.0"))
	vangogh := loadModel(t, filepath.Join(root, "vangogh", "1.0.0"))
	monetDir, monetSums := copyImages(t, testenv.ArtImages(t, "monet", 3))
	vgDir, _ := copyImages(t, testenv.ArtImages(t, "other_artists/vincent_van_gogh", 2))

	splitPath := filepath.Join(t.TempDir(), "split.csv")
	writeSplit(t, splitPath, map[string]string{monetSums[0]: "train", monetSums[1]: "test"})
	split, err := ReadSplit(splitPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := AttributionConfig{Models: []*inference.Model{monet, vangogh}, Splits: []*Split{split, nil},
		Images:     map[string][]string{"monet": {monetDir}, "vangogh": {vgDir}},
		KeepImages: true, BatchSize: 3}
	rep, err := Attribution(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rep.N != 4 || rep.Skipped != 1 || rep.Artists["monet"].N != 2 ||
		rep.Artists["vangogh"].N != 2 || len(rep.Images) != 4 {
		t.Fatalf("report %+v: want 2 Monet (one skipped) and 2 Van Gogh images", rep)
	}
	first := 0
	for _, im := range rep.Images {
		if im.SHA256 == monetSums[0] {
			t.Errorf("%s is in a model's training split but was ranked", im.Path)
		}
		if len(im.Ranking) != 2 || im.Ranking[0].Rank != 1 ||
			im.Ranking[0].Probability < im.Ranking[1].Probability ||
			math.Abs(im.Ranking[0].Share+im.Ranking[1].Share-1) > 1e-9 {
			t.Errorf("%s: ranking %+v", im.Path, im.Ranking)
		}
		if im.Ranking[0].Artist == im.Artist {
			first++
		}
	}
	if rep.First != first || rep.FirstRate != float64(first)/4 {
		t.Errorf("first %d (rate %v), per-image rankings say %d", rep.First, rep.FirstRate, first)
	}
	var b strings.Builder
	if err := rep.WriteTable(&b); err != nil || !strings.Contains(b.String(), "monet@1.0.0") ||
		!strings.Contains(b.String(), "1 skipped") {
		t.Errorf("table (err %v):\n%s", err, b.String())
	}

	for name, bad := range map[string]AttributionConfig{
		"one model":       {Models: []*inference.Model{monet}, Images: cfg.Images},
		"unknown artist":  {Models: cfg.Models, Images: map[string][]string{"degas": {vgDir}}},
		"same artist":     {Models: []*inference.Model{monet, monet}, Images: cfg.Images},
		"splits mismatch": {Models: cfg.Models, Splits: []*Split{split}, Images: cfg.Images},
	} {
		if _, err := Attribution(context.Background(), bad); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
