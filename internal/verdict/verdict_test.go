package verdict_test

import (
	"testing"

	"github.com/artauth/artauth/internal/verdict"
)

func f(v float64) *float64 { return &v }

func codes(r verdict.Result) map[string]bool {
	out := map[string]bool{}
	for _, x := range r.Reasons {
		out[x.Code] = true
	}
	return out
}

func TestDecide(t *testing.T) {
	base := verdict.Input{ClaimedArtist: "monet", ArtistThreshold: 0.5, ModelVersion: "1",
		AIScore: f(0.1), AIThreshold: 0.5}
	p := verdict.Policy{SpectralThreshold: 0.8}
	cases := []struct {
		name  string
		edit  func(*verdict.Input)
		want  string
		codes []string
	}{
		{"Consistent", func(in *verdict.Input) { in.ArtistScore = 0.9 }, verdict.Consistent,
			[]string{verdict.ReasonArtistMatch}},
		{"NotConsistent", func(in *verdict.Input) { in.ArtistScore = 0.1 },
			verdict.NotConsistent, []string{verdict.ReasonArtistNoMatch}},
		{"Borderline", func(in *verdict.Input) { in.ArtistScore = 0.52 }, verdict.NeedsReview,
			[]string{verdict.ReasonBorderline}},
		{"DetectorBeatsAGenuineLookingScore", func(in *verdict.Input) {
			in.ArtistScore, in.AIScore = 0.99, f(0.7)
		}, verdict.SuspectedAI, []string{verdict.ReasonAIDetector, verdict.ReasonArtistMatch}},
		{"MetadataClaim", func(in *verdict.Input) {
			in.ArtistScore = 0.9
			in.AIClaims = []verdict.Claim{{Source: "xmp", Value: "trainedAlgorithmicMedia"}}
		}, verdict.SuspectedAI, []string{verdict.ReasonMetadataClaim}},
		{"SpectralAloneIsReview", func(in *verdict.Input) {
			in.ArtistScore, in.Spectral = 0.9, f(0.95)
		}, verdict.NeedsReview, []string{verdict.ReasonSpectral}},
		{"KnownWork", func(in *verdict.Input) {
			in.ArtistScore = 0.9
			in.Duplicates = []verdict.Duplicate{{Kind: "reference", Distance: 2,
				Artist: "monet", Title: "Impression, soleil levant"}}
		}, verdict.NeedsReview, []string{verdict.ReasonKnownWork}},
		{"NoDetectorSaysSo", func(in *verdict.Input) { in.ArtistScore, in.AIScore = 0.9, nil },
			verdict.Consistent, []string{verdict.ReasonNoDetector}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := base
			c.edit(&in)
			r := verdict.Decide(in, p)
			if r.Verdict != c.want {
				t.Fatalf("verdict %s, want %s (%+v)", r.Verdict, c.want, r.Reasons)
			}
			got := codes(r)
			for _, code := range c.codes {
				if !got[code] {
					t.Errorf("reason %s missing from %+v", code, r.Reasons)
				}
			}
			for _, x := range r.Reasons {
				if x.Text == "" {
					t.Errorf("reason %s has no text", x.Code)
				}
			}
		})
	}
}
