package eval

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRatesReproducePublishedFigures(t *testing.T) {
	// The published confusion matrix: TN 128, FP 8, FN 2, TP 134.
	acc, prec, rec, f1 := Rates(134, 8, 128, 2)
	for _, c := range []struct {
		name      string
		got, want float64
		places    int
	}{
		{"accuracy", acc, 96.32, 2}, {"precision", prec, 94.37, 2},
		{"recall", rec, 98.53, 2}, {"f1", f1, 96.4, 1},
	} {
		p := math.Pow(10, float64(c.places))
		if got := math.Round(100*c.got*p) / p; got != c.want {
			t.Errorf("%s = %v%%, published %v%%", c.name, got, c.want)
		}
	}
}

func TestRatesZeroDenominators(t *testing.T) {
	acc, prec, rec, f1 := Rates(0, 0, 5, 0)
	if acc != 1 || prec != 0 || rec != 0 || f1 != 0 {
		t.Errorf("all true negatives: got %v %v %v %v, want 1 0 0 0", acc, prec, rec, f1)
	}
	acc, prec, rec, f1 = Rates(0, 0, 0, 0)
	if acc != 0 || prec != 0 || rec != 0 || f1 != 0 {
		t.Errorf("nothing: got %v %v %v %v, want zeros", acc, prec, rec, f1)
	}
}

func TestTally(t *testing.T) {
	items := []*item{
		{label: LabelPositive, group: "monet", artist: true},
		{label: LabelPositive, group: "monet", artist: true},
		{label: LabelPositive, group: "monet", artist: false},
		{label: LabelNegative, group: "van_gogh", artist: true},
		{label: LabelNegative, group: "van_gogh", artist: false},
		{label: LabelNegative, group: "degas", artist: false},
		{label: LabelAI, group: "gan-a", artist: true},
		{label: LabelAI, group: "gan-a", artist: false},
		{label: LabelAI, group: "gan-a", artist: false},
		{label: LabelAI, group: "gan-b", artist: false},
	}
	r := tally(items, true)
	if r.TP != 2 || r.FN != 1 || r.FP != 1 || r.TN != 2 {
		t.Fatalf("confusion TP %d FN %d FP %d TN %d, want 2 1 1 2", r.TP, r.FN, r.FP, r.TN)
	}
	if r.Accuracy != 4.0/6 || r.Precision != 2.0/3 || r.Recall != 2.0/3 {
		t.Errorf("rates %v %v %v", r.Accuracy, r.Precision, r.Recall)
	}
	if a := r.AI["gan-a"]; a.N != 3 || a.CalledNotArtist != 2 || a.Rate != 2.0/3 {
		t.Errorf("gan-a = %+v, want 2 of 3", a)
	}
	if a := r.AI["gan-b"]; a.N != 1 || a.CalledNotArtist != 1 || a.Rate != 1 {
		t.Errorf("gan-b = %+v, want 1 of 1", a)
	}
	if r.AITotal == nil || r.AITotal.N != 4 || r.AITotal.CalledNotArtist != 3 {
		t.Errorf("ai total = %+v, want 3 of 4", r.AITotal)
	}
	if g := r.Groups["negative/van_gogh"]; g.N != 2 || g.CalledArtist != 1 ||
		g.Label != "negative" {
		t.Errorf("group negative/van_gogh = %+v", g)
	}
	if len(r.Images) != len(items) || r.Images[0].Decision != DecisionArtist ||
		r.Images[2].Decision != DecisionNotArtist {
		t.Errorf("per-image results %+v", r.Images)
	}
	if r := tally(items[:3], false); r.AITotal != nil || r.Images != nil {
		t.Errorf("without AI images or KeepImages: ai_total %v images %v", r.AITotal, r.Images)
	}
}

// writeFile creates path (and its folders) holding content and returns its sha256.
func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return hex.EncodeToString(sum[:])
}

func TestListImages(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "others")
	for _, f := range []string{"b/2.JPG", "b/1.png", "a/x/3.webp", "top.jpeg", "notes.txt",
		".hidden.jpg", ".cache/4.jpg", "c/5.tiff"} {
		writeFile(t, filepath.Join(dir, f), f)
	}
	got, err := ListImages(dir)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range got {
		rel, _ := filepath.Rel(dir, f.Path)
		lines = append(lines, filepath.ToSlash(rel)+"@"+f.Group)
	}
	want := "a/x/3.webp@a b/1.png@b b/2.JPG@b c/5.tiff@c top.jpeg@others"
	if strings.Join(lines, " ") != want {
		t.Errorf("ListImages = %q, want %q", strings.Join(lines, " "), want)
	}
	if _, err := ListImages(filepath.Join(dir, "missing")); err == nil {
		t.Error("ListImages of a missing folder: no error")
	}
}

func writeSplit(t *testing.T, path string, rows map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("path,sha256,label,group,part\n")
	for sha, part := range rows {
		fmt.Fprintf(&b, "x/%s.jpg,%s,positive,x,%s\n", sha[:6], sha, part)
	}
	writeFile(t, path, b.String())
}

func TestReadSplit(t *testing.T) {
	dir := t.TempDir()
	a, b := strings.Repeat("a", 64), strings.Repeat("b", 64)
	p := filepath.Join(dir, "split.csv")
	writeFile(t, p, "part,sha256,path\ntest,"+a+",x.jpg\ntrain,"+strings.ToUpper(b)+",y.jpg\n")
	s, err := ReadSplit(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.Parts[a] != "test" || s.Parts[b] != "train" || s.Count("test") != 1 {
		t.Errorf("parts %v", s.Parts)
	}
	if len(s.SHA256) != 64 {
		t.Errorf("split sha256 %q", s.SHA256)
	}
	for name, content := range map[string]string{
		"no part column":  "path,sha256\nx," + a + "\n",
		"bad sha256":      "sha256,part\nabc,test\n",
		"bad part":        "sha256,part\n" + a + ",holdout\n",
		"two parts":       "sha256,part\n" + a + ",test\n" + a + ",train\n",
		"no images":       "sha256,part\n",
		"ragged csv line": "sha256,part\n" + a + ",test,extra\n",
	} {
		writeFile(t, p, content)
		if _, err := ReadSplit(p); err == nil {
			t.Errorf("%s: ReadSplit accepted %q", name, content)
		}
	}
}

func TestCollectAppliesSplit(t *testing.T) {
	root := t.TempDir()
	pos := filepath.Join(root, "monet")
	neg := filepath.Join(root, "others")
	ai := filepath.Join(root, "ai")
	p1 := writeFile(t, filepath.Join(pos, "p1.jpg"), "p1")
	p2 := writeFile(t, filepath.Join(pos, "p2.jpg"), "p2")
	n1 := writeFile(t, filepath.Join(neg, "degas", "n1.jpg"), "n1")
	n2 := writeFile(t, filepath.Join(neg, "degas", "n2.jpg"), "n2")
	writeFile(t, filepath.Join(neg, "new", "n3.jpg"), "n3") // in no part of the split
	writeFile(t, filepath.Join(ai, "gan", "a1.jpg"), "a1")
	splitPath := filepath.Join(root, "split.csv")
	writeSplit(t, splitPath, map[string]string{p1: "test", p2: "train", n1: "test", n2: "val"})
	split, err := ReadSplit(splitPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Positive: []string{pos}, Negative: []string{neg}, AI: []string{ai},
		Split: split, SplitPart: "test"}
	items, use, err := collect(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, it := range items {
		got = append(got, it.label+":"+filepath.Base(it.path)+"@"+it.group)
	}
	if want := "positive:p1.jpg@monet negative:n1.jpg@degas ai:a1.jpg@gan"; strings.Join(got,
		" ") != want {
		t.Errorf("collected %q, want %q", strings.Join(got, " "), want)
	}
	if use.Listed != 2 || use.Used != 2 || use.Skipped != 3 || use.Part != "test" {
		t.Errorf("split use %+v, want 2 listed, 2 used, 3 skipped", use)
	}

	cfg.SplitPart = "train"
	if items, _, err := collect(cfg); err != nil || len(items) != 2 {
		t.Errorf("train part: %d items, err %v; want p2 and the AI image", len(items), err)
	}

	// An AI image the model trained on must not be counted as held out.
	a2 := writeFile(t, filepath.Join(ai, "gan", "a2.jpg"), "a2")
	writeSplit(t, splitPath, map[string]string{p1: "test", a2: "train"})
	if cfg.Split, err = ReadSplit(splitPath); err != nil {
		t.Fatal(err)
	}
	cfg.SplitPart = "test"
	if _, _, err := collect(cfg); err == nil || !strings.Contains(err.Error(), "a2.jpg") {
		t.Errorf("AI image in the train part: err %v, want one naming a2.jpg", err)
	}

	// A split that lists nothing in the folders is a mistake, not an empty success.
	writeSplit(t, splitPath, map[string]string{strings.Repeat("c", 64): "test"})
	if cfg.Split, err = ReadSplit(splitPath); err != nil {
		t.Fatal(err)
	}
	if _, _, err := collect(cfg); err == nil {
		t.Error("split matching no image: no error")
	}

	// The same bytes twice would be counted twice.
	writeFile(t, filepath.Join(neg, "degas", "copy.jpg"), "p1")
	cfg.Split = nil
	if _, _, err := collect(cfg); err == nil || !strings.Contains(err.Error(), "same image") {
		t.Errorf("duplicate image: err %v", err)
	}
}

func TestResolveModel(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "monet", "1.2.0")
	writeFile(t, filepath.Join(dir, "model.json"), "{}")
	writeFile(t, filepath.Join(dir, "model.onnx"), "x")
	for spec, want := range map[string]string{
		dir:                                 dir,
		filepath.Join(dir, "model.onnx"):    dir,
		"monet@1.2.0":                       dir,
		filepath.Join(root, "monet") + "@x": "",
	} {
		got, err := ResolveModel(spec, root)
		if want == "" {
			if err == nil {
				t.Errorf("ResolveModel(%q) = %q, want an error", spec, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ResolveModel(%q) = %q, %v; want %q", spec, got, err, want)
		}
	}
	for _, spec := range []string{"", "monet", "monet@9.9.9", "..@1.2.0", "monet@..",
		"a/b@1.2.0", "@1.2.0", "monet@"} {
		if got, err := ResolveModel(spec, root); err == nil {
			t.Errorf("ResolveModel(%q) = %q, want an error", spec, got)
		}
	}
	if _, err := ResolveModel("monet@1.2.0", ""); err == nil {
		t.Error("ARTIST@VERSION without a models dir: no error")
	}
}

func TestWriteTable(t *testing.T) {
	r := tally([]*item{
		{label: LabelPositive, group: "monet", artist: true},
		{label: LabelNegative, group: "degas", artist: true},
		{label: LabelNegative, group: "degas", artist: false},
		{label: LabelAI, group: "gan", artist: false},
	}, false)
	r.Model = ModelInfo{Artist: "monet", Version: "0.1.0", Arch: "resnet18",
		SHA256: strings.Repeat("ab", 32), Threshold: 0.75}
	r.Split = &SplitUse{File: "split.csv", SHA256: strings.Repeat("cd", 32), Part: "test",
		Listed: 3, Used: 3}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `model      monet@0.1.0 (resnet18, sha256 abababababab)
decision   monet when score > 0.750000
split      test part of split.csv (sha256 cdcdcdcdcdcd): 3 listed, 3 scored

                   called monet   called not monet
actual monet       TP 1           FN 0
actual not monet   FP 1           TN 1

accuracy    66.67%  (2/3)
precision   50.00%
recall     100.00%
F1          66.67%

by folder                                        n  called monet
  negative/degas                                 2  1
  positive/monet                                 1  1

AI-generated, called not monet                       n  rate
  gan                                           1/1     100.00%
  all generators                                1/1     100.00%
`
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestDetectorFigures(t *testing.T) {
	items := []*item{
		{label: LabelPositive, group: "cyclegan", artist: true},
		{label: LabelPositive, group: "cyclegan", artist: false},
		{label: LabelAI, group: "pix2pix", artist: true},
		{label: LabelAI, group: "pix2pix", artist: false},
		{label: LabelAI, group: "pix2pix", artist: false},
		{label: LabelNegative, group: "monet", artist: true},
		{label: LabelNegative, group: "monet", artist: false},
		{label: LabelNegative, group: "monet", artist: false},
		{label: LabelNegative, group: "degas", artist: false},
	}
	d := detectorFigures(items)
	check := func(name string, got FlagRate, n, flagged int) {
		t.Helper()
		if got.N != n || got.Flagged != flagged || got.Rate != float64(flagged)/float64(n) {
			t.Errorf("%s = %+v, want %d of %d", name, got, flagged, n)
		}
	}
	check("trained cyclegan", d.Trained["cyclegan"], 2, 1)
	check("left-out pix2pix", d.LeftOut["pix2pix"], 3, 1)
	check("genuine monet", d.Genuine["monet"], 3, 1)
	check("genuine degas", d.Genuine["degas"], 1, 0)
	check("all AI", d.AllAI, 5, 2)
	check("all genuine", d.AllGenuine, 4, 1)
	if _, ok := d.Trained["pix2pix"]; ok {
		t.Error("a left-out generator counted as trained")
	}

	r := tally(items, false)
	r.Detector = d
	r.Model = ModelInfo{Artist: "ai-detector", Version: "0.1.0", Threshold: 0.5}
	var b strings.Builder
	if err := r.WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AI detector: flagged as AI-made when score > 0.500000",
		"pix2pix 1/3 33.33%",
		"all AI images 2/5 40.00%",
		"all genuine 1/4 25.00%",
	} {
		if !strings.Contains(strings.Join(strings.Fields(b.String()), " "), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "AI-generated, called not") {
		t.Errorf("detector table uses the artist wording:\n%s", b.String())
	}
}
