// Package verdict fuses the claimed artist's score, the AI-image detector's score, the
// provenance signals and the duplicate lookup into one verdict with reasons in plain words.
// It is pure: the same input always gives the same verdict, and the raw scores are returned
// beside it so that nothing is hidden behind the word.
package verdict

import (
	"fmt"
	"strings"
)

// Verdicts, from the most to the least urgent.
const (
	SuspectedAI   = "suspected_ai_imitation"
	NeedsReview   = "needs_expert_review"
	NotConsistent = "not_consistent"
	Consistent    = "consistent"
)

// Reason codes. Those listed in AlertReasons raise alerts.
const (
	ReasonAIDetector    = "ai_detector"
	ReasonMetadataClaim = "metadata_ai_claim"
	ReasonSpectral      = "spectral_artifacts"
	ReasonKnownWork     = "known_duplicate"
	ReasonBorderline    = "borderline_score"
	ReasonArtistMatch   = "artist_model_match"
	ReasonArtistNoMatch = "artist_model_no_match"
	ReasonNoDetector    = "no_ai_detector"
)

// AlertReasons are the reasons that raise an alert.
var AlertReasons = map[string]bool{
	ReasonAIDetector: true, ReasonMetadataClaim: true, ReasonKnownWork: true,
}

// Policy holds the thresholds; a model version can carry its own in its metadata.
type Policy struct {
	// ReviewMargin sends scores within this distance of the artist threshold to review.
	// Default 0.05.
	ReviewMargin float64 `json:"review_margin"`
	// AIThreshold is the detector score from which an image is a suspected AI imitation.
	// Default: the detector model's own threshold.
	AIThreshold float64 `json:"ai_threshold"`
	// SpectralThreshold is the spectral score from which the cheap signal counts; 0 turns it
	// off. It alone sends an image to review, never to "suspected AI".
	SpectralThreshold float64 `json:"spectral_threshold"`
	// NearDuplicateDistance is the largest perceptual-hash distance (of 64 bits) counted as
	// the same image.
	NearDuplicateDistance int `json:"near_duplicate_distance"`
}

// Duplicate is an earlier artwork or a registered reference work that looks the same.
type Duplicate struct {
	Kind      string // "artwork" or "reference"
	ID        string
	Distance  int
	Identical bool
	Artist    string
	Title     string
}

// Claim is metadata in the file that says it was made by AI (never verified).
type Claim struct {
	Source string
	Value  string
}

// Input is everything known about one submission.
type Input struct {
	ClaimedArtist   string
	ArtistScore     float64
	ArtistThreshold float64
	ModelVersion    string
	// AIScore is the detector's probability that the image is AI-made; nil when no detector
	// is active.
	AIScore     *float64
	AIThreshold float64
	Spectral    *float64
	AIClaims    []Claim
	Duplicates  []Duplicate
}

// Reason is one line of explanation.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Result is the verdict and why.
type Result struct {
	Verdict string   `json:"verdict"`
	Reasons []Reason `json:"reasons"`
}

// Decide applies the policy. The most urgent verdict any evidence supports wins; every piece
// of evidence leaves a reason, whatever the verdict.
func Decide(in Input, p Policy) Result {
	if p.ReviewMargin == 0 {
		p.ReviewMargin = 0.05
	}
	aiThreshold := p.AIThreshold
	if aiThreshold == 0 {
		aiThreshold = in.AIThreshold
	}
	var r Result
	ai, review := false, false
	add := func(code, format string, args ...any) {
		r.Reasons = append(r.Reasons, Reason{Code: code, Text: fmt.Sprintf(format, args...)})
	}

	for _, c := range in.AIClaims {
		ai = true
		add(ReasonMetadataClaim, "the file's %s metadata says it was made by AI (%s); the "+
			"claim is not verified", c.Source, c.Value)
	}
	switch {
	case in.AIScore == nil:
		add(ReasonNoDetector, "no AI-image detector is active, so AI imitation was not checked")
	case *in.AIScore >= aiThreshold:
		ai = true
		add(ReasonAIDetector, "the AI-image detector scored %.3f, at or above its threshold %.3f",
			*in.AIScore, aiThreshold)
	}
	if in.Spectral != nil && p.SpectralThreshold > 0 && *in.Spectral >= p.SpectralThreshold {
		review = true
		add(ReasonSpectral, "the image's frequency spectrum looks generated (score %.3f, "+
			"threshold %.3f); this cheap signal is weak on its own", *in.Spectral,
			p.SpectralThreshold)
	}
	for _, d := range in.Duplicates {
		review = true
		what := "an earlier submission"
		if d.Kind == "reference" {
			what = fmt.Sprintf("the registered work %q by %s", d.Title, d.Artist)
		}
		how := fmt.Sprintf("looks the same as %s (%d of 64 hash bits differ)", what, d.Distance)
		if d.Identical {
			how = "is byte for byte " + what
		}
		add(ReasonKnownWork, "the image %s", how)
	}

	lo, hi := in.ArtistThreshold-p.ReviewMargin, in.ArtistThreshold+p.ReviewMargin
	artist := strings.TrimSpace(in.ClaimedArtist)
	switch {
	case in.ArtistScore > hi:
		add(ReasonArtistMatch, "the %s model (version %s) scored %.3f, above its threshold %.3f",
			artist, in.ModelVersion, in.ArtistScore, in.ArtistThreshold)
	case in.ArtistScore < lo:
		add(ReasonArtistNoMatch, "the %s model (version %s) scored %.3f, below its threshold "+
			"%.3f: the style is not consistent with %s", artist, in.ModelVersion,
			in.ArtistScore, in.ArtistThreshold, artist)
	default:
		review = true
		add(ReasonBorderline, "the %s model (version %s) scored %.3f, within %.2f of its "+
			"threshold %.3f", artist, in.ModelVersion, in.ArtistScore, p.ReviewMargin,
			in.ArtistThreshold)
	}

	switch {
	case ai:
		r.Verdict = SuspectedAI
	case review:
		r.Verdict = NeedsReview
	case in.ArtistScore > hi:
		r.Verdict = Consistent
	default:
		r.Verdict = NotConsistent
	}
	return r
}
