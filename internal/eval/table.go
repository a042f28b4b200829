package eval

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// WriteTable prints the report as the published table: model, confusion matrix, accuracy,
// precision, recall and F1 of the artist class, a breakdown by folder and, for AI images,
// the share called not the artist per generator. It holds no file paths, so the same model
// and images print the same text on any machine (docs/MODEL_CARD.md quotes it).
func (r *Report) WriteTable(w io.Writer) error {
	var b strings.Builder
	a := r.Model.Artist
	fmt.Fprintf(&b, "model      %s@%s (%s, sha256 %.12s)\n", a, r.Model.Version, r.Model.Arch,
		r.Model.SHA256)
	fmt.Fprintf(&b, "decision   %s when score > %.6f\n", a, r.Model.Threshold)
	if s := r.Split; s != nil {
		fmt.Fprintf(&b, "split      %s part of %s (sha256 %.12s): %d listed, %d scored\n",
			s.Part, s.File, s.SHA256, s.Listed, s.Used)
	}
	if n := r.TP + r.FP + r.TN + r.FN; n > 0 {
		fmt.Fprintf(&b, "\n%-18s %-14s %s\n", "", "called "+a, "called not "+a)
		fmt.Fprintf(&b, "%-18s TP %-11d FN %d\n", "actual "+a, r.TP, r.FN)
		fmt.Fprintf(&b, "%-18s FP %-11d TN %d\n", "actual not "+a, r.FP, r.TN)
		fmt.Fprintf(&b, "\naccuracy   %6.2f%%  (%d/%d)\n", 100*r.Accuracy, r.TP+r.TN, n)
		fmt.Fprintf(&b, "precision  %6.2f%%\n", 100*r.Precision)
		fmt.Fprintf(&b, "recall     %6.2f%%\n", 100*r.Recall)
		fmt.Fprintf(&b, "F1         %6.2f%%\n", 100*r.F1)
		w := nameWidth(sortedKeys(r.Groups))
		fmt.Fprintf(&b, "\n%-*s %5s  %s\n", w+2, "by folder", "n", "called "+a)
		for _, k := range sortedKeys(r.Groups) {
			g := r.Groups[k]
			fmt.Fprintf(&b, "  %-*s %5d  %d\n", w, k, g.N, g.CalledArtist)
		}
	}
	if d := r.Detector; d != nil {
		writeDetector(&b, d, r.Model.Threshold)
	} else if len(r.AI) > 0 {
		w := nameWidth(sortedKeys(r.AI))
		fmt.Fprintf(&b, "\n%-*s %9s  %s\n", w+2, "AI-generated, called not "+a, "n", "rate")
		for _, k := range sortedKeys(r.AI) {
			x := r.AI[k]
			fmt.Fprintf(&b, "  %-*s %4d/%-4d  %6.2f%%\n", w, k, x.CalledNotArtist, x.N,
				100*x.Rate)
		}
		if t := r.AITotal; t != nil {
			fmt.Fprintf(&b, "  %-*s %4d/%-4d  %6.2f%%\n", w, "all generators",
				t.CalledNotArtist, t.N, 100*t.Rate)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeDetector prints a detector's flag rates: per generator seen in training, per generator
// left out of it, and per folder of genuine paintings (false alarms).
func writeDetector(b *strings.Builder, d *DetectorResult, threshold float64) {
	fmt.Fprintf(b, "\nAI detector: flagged as AI-made when score > %.6f\n", threshold)
	sections := []struct {
		title string
		rates map[string]FlagRate
		all   *FlagRate
	}{
		{"AI, generators in training (held-out images)", d.Trained, nil},
		{"AI, generators left out of training", d.LeftOut, nil},
		{"", nil, &d.AllAI},
		{"genuine paintings (false alarms)", d.Genuine, &d.AllGenuine},
	}
	var names []string
	for _, sec := range sections {
		names = append(names, sec.title)
		for k := range sec.rates {
			names = append(names, "  "+k)
		}
	}
	w := nameWidth(names)
	for _, sec := range sections {
		if sec.title != "" && len(sec.rates) > 0 {
			fmt.Fprintf(b, "  %-*s %9s  %s\n", w, sec.title, "flagged", "rate")
			for _, k := range sortedKeys(sec.rates) {
				x := sec.rates[k]
				fmt.Fprintf(b, "    %-*s %4d/%-4d  %6.2f%%\n", w-2, k, x.Flagged, x.N, 100*x.Rate)
			}
		}
		if sec.all != nil && sec.all.N > 0 {
			name := "all AI images"
			if sec.rates != nil {
				name = "all genuine"
			}
			fmt.Fprintf(b, "  %-*s %4d/%-4d  %6.2f%%\n", w, name, sec.all.Flagged, sec.all.N,
				100*sec.all.Rate)
		}
	}
}

// nameWidth is the width of the name column: 42, or the longest name.
func nameWidth(names []string) int {
	w := 42
	for _, n := range names {
		w = max(w, len(n))
	}
	return w
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
