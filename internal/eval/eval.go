// Package eval measures a per-artist model on labelled image folders with exactly the code
// the classifier worker runs: imaging.Preprocess with the model's preprocessing, one ONNX
// Runtime batch through inference.Model.Run, inference.Sigmoid and the decision "artist when
// score > threshold". It prints the published table (confusion matrix, accuracy, precision,
// recall and F1 of the artist class) and, for AI-generated images, the share called not the
// artist per generator.
//
// A saved split (split.csv beside a trained model, see training/train.py) restricts the
// positive and negative images to one part, matched by SHA-256, so that an evaluation can
// show it never scored a training image. The package also checks a model's golden vectors
// (golden.json: PyTorch's probabilities for a few images) and the metadata embedded in its
// ONNX file.
package eval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
)

// ImageExts are the file extensions evaluated (lower case); training/artauth_train/data.py
// reads the same list.
var ImageExts = []string{".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".gif"}

// Labels of the images an evaluation scores.
const (
	LabelPositive = "positive" // the artist's own work
	LabelNegative = "negative" // other artists' work
	LabelAI       = "ai"       // AI-generated imitations of the artist; should be called not
)

// Config says what to evaluate.
type Config struct {
	// Positive, Negative and AI are folders, searched recursively. A sub-folder of an AI
	// folder is a generator; files directly inside it count under the folder's name.
	Positive, Negative, AI []string
	// Split, when set, restricts positive and negative images to those it lists for
	// SplitPart (default "test"). AI images listed in its train or val part are an error.
	Split     *Split
	SplitPart string
	// BatchSize is the number of images per ONNX Runtime run (default 16).
	BatchSize int
	// Concurrency is the number of images read and preprocessed at once (default GOMAXPROCS).
	Concurrency int
	// Limits bound the images accepted, as in the worker (default imaging.DefaultLimits()).
	Limits imaging.Limits
	// KeepImages adds every image's score to the report.
	KeepImages bool
}

// Report is the outcome of an evaluation. TP, FP, TN, FN and the rates are for the artist
// (positive) class over the positive and negative folders; AI images are counted apart.
type Report struct {
	Model     ModelInfo `json:"model"`
	TP        int       `json:"tp"`
	FP        int       `json:"fp"`
	TN        int       `json:"tn"`
	FN        int       `json:"fn"`
	Accuracy  float64   `json:"accuracy"`
	Precision float64   `json:"precision"`
	Recall    float64   `json:"recall"`
	F1        float64   `json:"f1"`
	// AI holds one entry per generator.
	AI map[string]AIResult `json:"ai"`
	// AITotal sums AI over every generator; nil when no AI folder was given.
	AITotal *AIResult `json:"ai_total,omitempty"`
	// Groups breaks the positive and negative images down by folder: "<label>/<group>",
	// where the group is the first sub-folder (or the folder's own name).
	Groups map[string]GroupResult `json:"groups"`
	Split  *SplitUse              `json:"split,omitempty"`
	// Detector restates the figures in an AI-image detector's terms; nil for artist models.
	Detector *DetectorResult `json:"detector,omitempty"`
	Images   []ImageResult   `json:"images,omitempty"`
}

// DetectorResult gives an AI-image detector's figures (the model named
// inference.DetectorArtist, whose positive class is "AI-made"): the share of AI images
// flagged for each generator, apart for generators the detector was trained on (its positive
// folders, held-out part of the split) and generators left out of its training (the AI
// folders), and the share of genuine paintings flagged (its negative folders).
type DetectorResult struct {
	Trained    map[string]FlagRate `json:"trained_generators"`
	LeftOut    map[string]FlagRate `json:"left_out_generators"`
	Genuine    map[string]FlagRate `json:"genuine"`
	AllAI      FlagRate            `json:"all_ai"`
	AllGenuine FlagRate            `json:"all_genuine"`
}

// FlagRate counts images and how many of them the detector flagged as AI-made.
type FlagRate struct {
	N       int     `json:"n"`
	Flagged int     `json:"flagged"`
	Rate    float64 `json:"rate"`
}

func (f *FlagRate) add(flagged bool) {
	f.N++
	if flagged {
		f.Flagged++
	}
	f.Rate = ratio(f.Flagged, f.N)
}

// ModelInfo identifies the evaluated model.
type ModelInfo struct {
	Artist    string  `json:"artist"`
	Version   string  `json:"version"`
	Arch      string  `json:"arch"`
	SHA256    string  `json:"sha256"`
	Threshold float64 `json:"threshold"`
}

// AIResult counts AI-generated images and how many were correctly called not the artist.
type AIResult struct {
	N               int     `json:"n"`
	CalledNotArtist int     `json:"called_not_artist"`
	Rate            float64 `json:"rate"`
}

// GroupResult counts the images of one folder and how many were called the artist.
type GroupResult struct {
	Label        string `json:"label"`
	N            int    `json:"n"`
	CalledArtist int    `json:"called_artist"`
}

// SplitUse records how a saved split restricted the evaluation.
type SplitUse struct {
	File   string `json:"file"`
	SHA256 string `json:"sha256"`
	Part   string `json:"part"`
	// Listed is the number of images the split lists for Part; Used the number of them
	// found in the positive and negative folders and scored; Skipped the number of files in
	// those folders that belong to another part or to none.
	Listed  int `json:"listed"`
	Used    int `json:"used"`
	Skipped int `json:"skipped"`
}

// ImageResult is one scored image.
type ImageResult struct {
	Path     string  `json:"path"`
	SHA256   string  `json:"sha256"`
	Label    string  `json:"label"`
	Group    string  `json:"group"`
	Logit    float32 `json:"logit"`
	Score    float64 `json:"score"`
	Decision string  `json:"decision"`
}

// Decisions, as the worker stores them.
const (
	DecisionArtist    = "artist"
	DecisionNotArtist = "not_artist"
)

type item struct {
	path, sha, label, group string
	logit                   float32
	score                   float64
	artist                  bool
}

// Run scores every image of cfg with m and returns the report. Any image that cannot be
// read or preprocessed fails the whole evaluation, naming the file: figures over a silently
// shrunken set would mislead.
func Run(ctx context.Context, m *inference.Model, cfg Config) (*Report, error) {
	if len(cfg.Positive)+len(cfg.Negative)+len(cfg.AI) == 0 {
		return nil, errors.New("eval: give at least one positive, negative or AI folder")
	}
	if cfg.SplitPart == "" {
		cfg.SplitPart = "test"
	}
	if cfg.Split != nil && !validPart(cfg.SplitPart) {
		return nil, fmt.Errorf("eval: split part %q: want train, val or test", cfg.SplitPart)
	}
	items, use, err := collect(cfg)
	if err != nil {
		return nil, err
	}
	if err := score(ctx, m, cfg, items); err != nil {
		return nil, err
	}
	rep := tally(items, cfg.KeepImages)
	if m.Meta.Artist == inference.DetectorArtist {
		rep.Detector = detectorFigures(items)
	}
	rep.Model = ModelInfo{Artist: m.Meta.Artist, Version: m.Meta.Version, Arch: m.Meta.Arch,
		SHA256: m.Meta.SHA256, Threshold: m.Meta.Threshold}
	rep.Split = use
	return rep, nil
}

// collect lists the images of every folder, hashes them and applies the split.
func collect(cfg Config) ([]*item, *SplitUse, error) {
	var items []*item
	var use *SplitUse
	if cfg.Split != nil {
		use = &SplitUse{File: filepath.Base(cfg.Split.Path), SHA256: cfg.Split.SHA256,
			Part: cfg.SplitPart, Listed: cfg.Split.Count(cfg.SplitPart)}
	}
	seen := map[string]string{}
	for _, set := range []struct {
		label string
		dirs  []string
	}{{LabelPositive, cfg.Positive}, {LabelNegative, cfg.Negative}, {LabelAI, cfg.AI}} {
		for _, dir := range set.dirs {
			files, err := ListImages(dir)
			if err != nil {
				return nil, nil, err
			}
			if len(files) == 0 {
				return nil, nil, fmt.Errorf("eval: %s folder %s holds no images (%s)",
					set.label, dir, strings.Join(ImageExts, ", "))
			}
			for _, f := range files {
				sum, err := hashFile(f.Path)
				if err != nil {
					return nil, nil, err
				}
				if prev, ok := seen[sum]; ok {
					return nil, nil, fmt.Errorf("eval: %s and %s are the same image "+
						"(sha256 %s): each image may be counted once", f.Path, prev, sum)
				}
				seen[sum] = f.Path
				if cfg.Split != nil {
					part, listed := cfg.Split.Parts[sum]
					if set.label == LabelAI {
						if listed && part != "test" {
							return nil, nil, fmt.Errorf("eval: AI image %s (sha256 %s) is in "+
								"the %s part of split %s: the model has seen it",
								f.Path, sum, part, cfg.Split.Path)
						}
					} else if part != cfg.SplitPart {
						use.Skipped++
						continue
					}
				}
				items = append(items, &item{path: f.Path, sha: sum, label: set.label,
					group: f.Group})
			}
		}
	}
	if use != nil {
		for _, it := range items {
			if it.label != LabelAI {
				use.Used++
			}
		}
		if use.Used == 0 && len(cfg.Positive)+len(cfg.Negative) > 0 {
			return nil, nil, fmt.Errorf("eval: none of the images in the positive and "+
				"negative folders is in the %s part of split %s (%d listed): wrong split or "+
				"wrong folders", cfg.SplitPart, cfg.Split.Path, use.Listed)
		}
	}
	return items, use, nil
}

func hashFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("eval: read %s: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Spec is the imaging spec the worker derives from a model's metadata.
func Spec(meta inference.Metadata) imaging.Spec { return meta.Preprocessing.Spec() }

// score preprocesses and runs the items in batches, filling logit, score and decision.
func score(ctx context.Context, m *inference.Model, cfg Config, items []*item) error {
	bs, conc := batchDefaults(cfg.BatchSize, cfg.Concurrency)
	lim := cfg.Limits
	if lim == (imaging.Limits{}) {
		lim = imaging.DefaultLimits()
	}
	spec, per := Spec(m.Meta), m.InputLen()
	for start := 0; start < len(items); start += bs {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		batch := items[start:min(start+bs, len(items))]
		input := make([]float32, len(batch)*per)
		if err := preprocessAll(batch, spec, lim, input, per, conc); err != nil {
			return err
		}
		logits, err := m.Run(input, len(batch))
		if err != nil {
			return fmt.Errorf("eval: score %s and %d more: %w", batch[0].path, len(batch)-1, err)
		}
		for i, it := range batch {
			it.logit = logits[i]
			it.score = inference.Sigmoid(logits[i])
			it.artist = it.score > m.Meta.Threshold
		}
	}
	return nil
}

// batchDefaults fills in Config's defaults for the batch size and the concurrency.
func batchDefaults(bs, conc int) (int, int) {
	if bs <= 0 {
		bs = 16
	}
	if conc <= 0 {
		conc = runtime.GOMAXPROCS(0)
	}
	return bs, conc
}

func preprocessAll(batch []*item, spec imaging.Spec, lim imaging.Limits, input []float32,
	per, conc int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(batch))
	sem := make(chan struct{}, conc)
	for i, it := range batch {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			data, err := os.ReadFile(it.path)
			if err != nil {
				errs[i] = fmt.Errorf("eval: read %s: %w", it.path, err)
				return
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != it.sha {
				errs[i] = fmt.Errorf("eval: %s changed while evaluating (sha256 %s, was %s)",
					it.path, got, it.sha)
				return
			}
			if _, err := imaging.Preprocess(data, spec, lim, imaging.Options{},
				input[i*per:(i+1)*per]); err != nil {
				errs[i] = fmt.Errorf("eval: preprocess %s: %w", it.path, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// tally computes the report's counts and rates from scored items.
func tally(items []*item, keep bool) *Report {
	rep := &Report{AI: map[string]AIResult{}, Groups: map[string]GroupResult{}}
	for _, it := range items {
		if it.label == LabelAI {
			a := rep.AI[it.group]
			a.N++
			if !it.artist {
				a.CalledNotArtist++
			}
			rep.AI[it.group] = a
		} else {
			key := it.label + "/" + it.group
			g := rep.Groups[key]
			g.Label = it.label
			g.N++
			if it.artist {
				g.CalledArtist++
			}
			rep.Groups[key] = g
			switch {
			case it.label == LabelPositive && it.artist:
				rep.TP++
			case it.label == LabelPositive:
				rep.FN++
			case it.artist:
				rep.FP++
			default:
				rep.TN++
			}
		}
		if keep {
			d := DecisionNotArtist
			if it.artist {
				d = DecisionArtist
			}
			rep.Images = append(rep.Images, ImageResult{Path: it.path, SHA256: it.sha,
				Label: it.label, Group: it.group, Logit: it.logit, Score: it.score,
				Decision: d})
		}
	}
	rep.Accuracy, rep.Precision, rep.Recall, rep.F1 = Rates(rep.TP, rep.FP, rep.TN, rep.FN)
	if len(rep.AI) > 0 {
		var total AIResult
		for g, a := range rep.AI {
			a.Rate = ratio(a.CalledNotArtist, a.N)
			rep.AI[g] = a
			total.N += a.N
			total.CalledNotArtist += a.CalledNotArtist
		}
		total.Rate = ratio(total.CalledNotArtist, total.N)
		rep.AITotal = &total
	}
	return rep
}

// detectorFigures counts, per generator and per folder of genuine paintings, the images a
// detector flagged (called its positive class).
func detectorFigures(items []*item) *DetectorResult {
	d := &DetectorResult{Trained: map[string]FlagRate{}, LeftOut: map[string]FlagRate{},
		Genuine: map[string]FlagRate{}}
	for _, it := range items {
		m, all := d.Genuine, &d.AllGenuine
		switch it.label {
		case LabelPositive:
			m, all = d.Trained, &d.AllAI
		case LabelAI:
			m, all = d.LeftOut, &d.AllAI
		}
		f := m[it.group]
		f.add(it.artist)
		m[it.group] = f
		all.add(it.artist)
	}
	return d
}

// Rates returns accuracy, precision, recall and F1 of the positive class; a rate whose
// denominator is zero is 0.
func Rates(tp, fp, tn, fn int) (accuracy, precision, recall, f1 float64) {
	accuracy = ratio(tp+tn, tp+fp+tn+fn)
	precision = ratio(tp, tp+fp)
	recall = ratio(tp, tp+fn)
	if precision+recall > 0 {
		f1 = 2 * precision * recall / (precision + recall)
	}
	return accuracy, precision, recall, f1
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// ImageFile is an image found under a folder.
type ImageFile struct {
	Path string
	// Group is the first sub-folder under the folder, or the folder's own name for files
	// directly inside it.
	Group string
}

// ListImages returns the image files under dir (recursively, hidden entries skipped),
// sorted by their path relative to dir.
func ListImages(dir string) ([]ImageFile, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("eval: image folder %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("eval: image folder %s is not a directory", dir)
	}
	base := filepath.Base(filepath.Clean(dir))
	var out []ImageFile
	var rels []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if path != dir && strings.HasPrefix(name, ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isImage(name) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		group := base
		if i := strings.IndexByte(rel, '/'); i >= 0 {
			group = rel[:i]
		}
		out = append(out, ImageFile{Path: path, Group: group})
		rels = append(rels, rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("eval: list %s: %w", dir, err)
	}
	idx := make([]int, len(out))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return rels[idx[a]] < rels[idx[b]] })
	sorted := make([]ImageFile, len(out))
	for i, j := range idx {
		sorted[i] = out[j]
	}
	return sorted, nil
}

func isImage(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range ImageExts {
		if ext == e {
			return true
		}
	}
	return false
}
