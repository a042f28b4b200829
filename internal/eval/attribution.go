package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/artauth/artauth/internal/imaging"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
)

// AttributionConfig says which artist models to fuse and on whose images.
type AttributionConfig struct {
	// Models are the artist models; each one's artist must be unique.
	Models []*inference.Model
	// Splits, when set, holds each model's saved split (same order as Models; nil entries
	// allowed). An image listed in any split's train or val part is skipped, so that every
	// ranked image is held out from every model.
	Splits []*Split
	// Images maps an artist (a model's Meta.Artist) to folders of that artist's work.
	Images map[string][]string
	// BatchSize and Concurrency are as in Config.
	BatchSize, Concurrency int
	// KeepImages adds every image's ranking to the report.
	KeepImages bool
}

// AttributionReport says how often the fused binary models rank an image's true artist
// first, as the worker's attribution does (store.RankAttributions over the calibrated
// probabilities).
type AttributionReport struct {
	Models []ModelInfo `json:"models"`
	// Artists holds the figures per true artist.
	Artists map[string]ArtistAttribution `json:"artists"`
	// N images ranked, First of them with the true artist first.
	N         int     `json:"n"`
	First     int     `json:"first"`
	FirstRate float64 `json:"first_rate"`
	// Skipped counts images some model saw in training or validation.
	Skipped int               `json:"skipped"`
	Images  []AttributedImage `json:"images,omitempty"`
	// Splits are the SHA-256 of the splits that restricted the images.
	Splits []string `json:"splits,omitempty"`
}

// ArtistAttribution counts one artist's images, how many were ranked first for that
// artist, and which artist came first for each image.
type ArtistAttribution struct {
	N         int            `json:"n"`
	First     int            `json:"first"`
	FirstRate float64        `json:"first_rate"`
	TopPicks  map[string]int `json:"top_picks"`
	// MeanShare is the true artist's mean share of the summed probabilities.
	MeanShare float64 `json:"mean_share"`
}

// AttributedImage is one ranked image.
type AttributedImage struct {
	Path    string              `json:"path"`
	SHA256  string              `json:"sha256"`
	Artist  string              `json:"artist"`
	Ranking []store.Attribution `json:"ranking"`
}

// Attribution scores every image of cfg.Images with every model and ranks the artists.
func Attribution(ctx context.Context, cfg AttributionConfig) (*AttributionReport, error) {
	if len(cfg.Models) < 2 {
		return nil, fmt.Errorf("attribution: %d models; ranking needs at least 2",
			len(cfg.Models))
	}
	if len(cfg.Splits) != 0 && len(cfg.Splits) != len(cfg.Models) {
		return nil, fmt.Errorf("attribution: %d splits for %d models", len(cfg.Splits),
			len(cfg.Models))
	}
	rep := &AttributionReport{Artists: map[string]ArtistAttribution{}}
	byArtist := map[string]bool{}
	for _, m := range cfg.Models {
		if byArtist[m.Meta.Artist] {
			return nil, fmt.Errorf("attribution: two models for artist %q", m.Meta.Artist)
		}
		byArtist[m.Meta.Artist] = true
		rep.Models = append(rep.Models, ModelInfo{Artist: m.Meta.Artist,
			Version: m.Meta.Version, Arch: m.Meta.Arch, SHA256: m.Meta.SHA256,
			Threshold: m.Meta.Threshold})
	}
	for _, s := range cfg.Splits {
		if s != nil {
			rep.Splits = append(rep.Splits, s.SHA256)
		}
	}

	var items []*item
	seen := map[string]string{}
	artists := make([]string, 0, len(cfg.Images))
	for a := range cfg.Images {
		artists = append(artists, a)
	}
	sort.Strings(artists)
	for _, artist := range artists {
		if !byArtist[artist] {
			return nil, fmt.Errorf("attribution: images given for %q, which no model scores",
				artist)
		}
		for _, dir := range cfg.Images[artist] {
			files, err := ListImages(dir)
			if err != nil {
				return nil, err
			}
			for _, f := range files {
				sum, err := hashFile(f.Path)
				if err != nil {
					return nil, err
				}
				if prev, ok := seen[sum]; ok {
					return nil, fmt.Errorf("attribution: %s and %s are the same image "+
						"(sha256 %s)", f.Path, prev, sum)
				}
				seen[sum] = f.Path
				if heldOutFromAll(cfg.Splits, sum) {
					items = append(items, &item{path: f.Path, sha: sum, label: artist})
				} else {
					rep.Skipped++
				}
			}
		}
	}
	if len(items) == 0 {
		return nil, errors.New("attribution: no image is held out from every model")
	}

	// One tensor per distinct preprocessing, then every model on its tensor.
	bs, conc := batchDefaults(cfg.BatchSize, cfg.Concurrency)
	probs := make([][]store.Attribution, len(items))
	tensors := map[inference.Preprocessing][]float32{}
	for _, m := range cfg.Models {
		p := m.Meta.Preprocessing
		input, ok := tensors[p]
		if !ok {
			input = make([]float32, len(items)*m.InputLen())
			if err := preprocessAll(items, Spec(m.Meta), imaging.DefaultLimits(), input,
				m.InputLen(), conc); err != nil {
				return nil, err
			}
			tensors[p] = input
		}
		logits, err := runBatches(ctx, m, input, len(items), bs)
		if err != nil {
			return nil, err
		}
		for i, l := range logits {
			probs[i] = append(probs[i], store.Attribution{Artist: m.Meta.Artist,
				ModelVersion: m.Meta.Version, Probability: inference.Sigmoid(l)})
		}
	}

	for i, it := range items {
		ranking := store.RankAttributions(probs[i], 0)
		a := rep.Artists[it.label]
		if a.TopPicks == nil {
			a.TopPicks = map[string]int{}
		}
		a.N++
		a.TopPicks[ranking[0].Artist]++
		if ranking[0].Artist == it.label {
			a.First++
		}
		for _, c := range ranking {
			if c.Artist == it.label {
				a.MeanShare += c.Share
			}
		}
		rep.Artists[it.label] = a
		if cfg.KeepImages {
			rep.Images = append(rep.Images, AttributedImage{Path: it.path, SHA256: it.sha,
				Artist: it.label, Ranking: ranking})
		}
	}
	for k, a := range rep.Artists {
		a.FirstRate = ratio(a.First, a.N)
		a.MeanShare /= float64(a.N)
		rep.Artists[k] = a
		rep.N += a.N
		rep.First += a.First
	}
	rep.FirstRate = ratio(rep.First, rep.N)
	return rep, nil
}

// heldOutFromAll reports whether no split lists the image in its train or val part.
func heldOutFromAll(splits []*Split, sha string) bool {
	for _, s := range splits {
		if s == nil {
			continue
		}
		if part, ok := s.Parts[sha]; ok && part != "test" {
			return false
		}
	}
	return true
}

// runBatches runs n preprocessed images through m, bs at a time.
func runBatches(ctx context.Context, m *inference.Model, input []float32, n, bs int) (
	[]float32, error) {
	per := m.InputLen()
	out := make([]float32, 0, n)
	for start := 0; start < n; start += bs {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		k := min(bs, n-start)
		logits, err := m.Run(input[start*per:(start+k)*per], k)
		if err != nil {
			return nil, fmt.Errorf("eval: %s@%s on images %d to %d: %w", m.Meta.Artist,
				m.Meta.Version, start, start+k-1, err)
		}
		out = append(out, logits...)
	}
	return out, nil
}

// WriteTable prints the report: per true artist, the images ranked, how many had that
// artist first, the artist most often first instead, and the mean share.
func (r *AttributionReport) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "attribution over %d models:", len(r.Models))
	for _, m := range r.Models {
		fmt.Fprintf(&b, " %s@%s", m.Artist, m.Version)
	}
	fmt.Fprintf(&b, "\nimages held out from every model: %d ranked, %d skipped (seen in "+
		"training or validation)\n\n", r.N, r.Skipped)
	fmt.Fprintf(&b, "%-20s %5s %7s %8s  %-11s %s\n", "true artist", "n", "first", "rate",
		"mean share", "ranked first instead")
	for _, k := range sortedKeys(r.Artists) {
		a := r.Artists[k]
		var others []string
		for _, o := range sortedKeys(a.TopPicks) {
			if o != k {
				others = append(others, fmt.Sprintf("%s %d", o, a.TopPicks[o]))
			}
		}
		fmt.Fprintf(&b, "%-20s %5d %7d %7.2f%%  %-11.3f %s\n", k, a.N, a.First,
			100*a.FirstRate, a.MeanShare, strings.Join(others, ", "))
	}
	fmt.Fprintf(&b, "%-20s %5d %7d %7.2f%%\n", "all", r.N, r.First, 100*r.FirstRate)
	_, err := io.WriteString(w, b.String())
	return err
}
