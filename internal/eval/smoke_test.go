package eval

import (
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/artauth/artauth/internal/testenv"
)

// Python is Debian's interpreter, the one with python3-torch and python3-torchvision.
const Python = "/usr/bin/python3"

// symlinkFirst links the first n images of src (sorted) into dst.
func symlinkFirst(t *testing.T, src, dst string, n int) {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(src, "*.jpg"))
	if err != nil || len(files) < n {
		t.Fatalf("want %d images under %s, found %d (%v)", n, src, len(files), err)
	}
	sort.Strings(files)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files[:n] {
		if err := os.Symlink(f, filepath.Join(dst, filepath.Base(f))); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTrainingSmoke runs the whole training pipeline on a few images: one epoch of a
// ResNet-18 at 64×64 with float16 weights, export, then the Go side loads the model, checks
// its embedded metadata and golden vectors, checks that the saved split is the documented
// deterministic one, and evaluates the test split and some AI images.
func TestTrainingSmoke(t *testing.T) {
	check := exec.Command(Python, "-c", "import torch, torchvision")
	if out, err := check.CombinedOutput(); err != nil {
		testenv.Missing(t, "%s with torch and torchvision: %v: %s", Python, err, out)
	}
	testenv.ORT(t)
	art := testenv.ArtDir(t)
	root := repoRoot(t)
	tmp := t.TempDir()
	pos := filepath.Join(tmp, "data", "monet")
	neg := filepath.Join(tmp, "data", "others")
	ai := filepath.Join(tmp, "data", "ai")
	symlinkFirst(t, filepath.Join(art, "monet"), pos, 10)
	symlinkFirst(t, filepath.Join(art, "other_artists", "vincent_van_gogh"),
		filepath.Join(neg, "vincent_van_gogh"), 6)
	// Full-size scans: exercises the large-image resize in training, golden and eval.
	symlinkFirst(t, filepath.Join(art, "other_artists", "paul_cezanne"),
		filepath.Join(neg, "paul_cezanne"), 4)
	gens, _ := filepath.Glob(filepath.Join(art, "ai_monet_style", "*"))
	for _, g := range gens {
		symlinkFirst(t, g, filepath.Join(ai, filepath.Base(g)), 2)
	}

	models := filepath.Join(tmp, "models")
	out := filepath.Join(models, "monet", "0.0.1-smoke")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, Python, filepath.Join(root, "training", "train.py"),
		"--artist", "monet", "--version", "0.0.1-smoke", "--positive", pos, "--negative", neg,
		"--out", out, "--arch", "resnet18", "--size", "64", "--epochs", "1",
		"--batch-size", "8", "--weights-dtype", "float16", "--golden", "2", "--seed", "7",
		"--threads", "2")
	logOut, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("train.py: %v\n%s", err, logOut)
	}
	t.Logf("train.py took %s:\n%s", time.Since(start).Round(time.Millisecond), logOut)

	dir, err := ResolveModel("monet@0.0.1-smoke", models)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "model.onnx"))
	if err != nil {
		t.Fatal(err)
	}
	// ResNet-18 has 11.2 M weights: 45 MB as float32, 22 MB as float16.
	if st.Size() > 25<<20 {
		t.Errorf("float16 ResNet-18 is %d bytes: weights not stored as float16?", st.Size())
	}
	m := loadModel(t, dir)
	var meta struct {
		Trained     bool `json:"trained"`
		Calibration struct {
			Method      string  `json:"method"`
			Temperature float64 `json:"temperature"`
		} `json:"calibration"`
		Split struct {
			SHA256 string `json:"sha256"`
		} `json:"split"`
		DataManifest struct {
			SHA256 string `json:"sha256"`
		} `json:"data_manifest"`
	}
	if err := json.Unmarshal(m.RawMeta, &meta); err != nil {
		t.Fatal(err)
	}
	if !meta.Trained || meta.Calibration.Method != "temperature" ||
		meta.Calibration.Temperature <= 0 {
		t.Errorf("model.json: trained %v, calibration %+v", meta.Trained, meta.Calibration)
	}
	if th := m.Meta.Threshold; th <= 0 || th >= 1 ||
		m.Meta.Preprocessing.Resize != [2]int{64, 64} {
		t.Errorf("model.json: threshold %v, resize %v", m.Meta.Threshold,
			m.Meta.Preprocessing.Resize)
	}
	embedded, err := CheckEmbedded(m)
	if err != nil {
		t.Fatal(err)
	}
	if embedded["split_sha256"] != meta.Split.SHA256 ||
		embedded["data_manifest_sha256"] != meta.DataManifest.SHA256 {
		t.Errorf("embedded split %q / manifest %q differ from model.json's %q / %q",
			embedded["split_sha256"], embedded["data_manifest_sha256"], meta.Split.SHA256,
			meta.DataManifest.SHA256)
	}
	checkGolden(t, m)

	split, err := ReadSplit(filepath.Join(dir, "split.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if split.SHA256 != meta.Split.SHA256 {
		t.Errorf("split.csv sha256 %s, model.json says %s", split.SHA256, meta.Split.SHA256)
	}
	checkDocumentedSplit(t, filepath.Join(dir, "split.csv"), 7)

	rep, err := Run(context.Background(), m, Config{Positive: []string{pos},
		Negative: []string{neg}, AI: []string{ai}, Split: split, SplitPart: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Split.Listed == 0 || rep.Split.Used != rep.Split.Listed ||
		rep.TP+rep.FP+rep.TN+rep.FN != rep.Split.Used || rep.Split.Skipped != 20-rep.Split.Used {
		t.Errorf("test split: %+v, confusion %d %d %d %d", rep.Split, rep.TP, rep.FP, rep.TN,
			rep.FN)
	}
	if rep.AITotal == nil || rep.AITotal.N != 2*len(gens) || len(rep.AI) != len(gens) {
		t.Errorf("AI results %+v (total %+v), want %d generators of 2", rep.AI, rep.AITotal,
			len(gens))
	}
}

// checkDocumentedSplit recomputes the split training/artauth_train/data.py documents from
// the file's own list of images: per label and group, order by sha256("<seed>:<sha256>"),
// 10% test and 20% val rounded half up, the rest train. It proves the split depends on the
// images' bytes and the seed only.
func checkDocumentedSplit(t *testing.T, path string, seed int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(rows[0], ","); got != "path,sha256,label,group,part" {
		t.Fatalf("split.csv header %q", got)
	}
	type row struct{ key, sha, part string }
	groups := map[string][]row{}
	for _, r := range rows[1:] {
		k := sha256.Sum256([]byte(fmt.Sprintf("%d:%s", seed, r[1])))
		groups[r[2]+"/"+r[3]] = append(groups[r[2]+"/"+r[3]],
			row{hex.EncodeToString(k[:]), r[1], r[4]})
	}
	for g, members := range groups {
		sort.Slice(members, func(i, j int) bool { return members[i].key < members[j].key })
		n := float64(len(members))
		nTest := int(math.Floor(n*0.1 + 0.5))
		nVal := int(math.Floor(n*0.2 + 0.5))
		for i, r := range members {
			want := "train"
			if i < nTest {
				want = "test"
			} else if i < nTest+nVal {
				want = "val"
			}
			if r.part != want {
				t.Errorf("split group %s: image %s is in %s, the documented rule puts it in %s",
					g, r.sha, r.part, want)
			}
		}
	}
}
