package store

import "testing"

func TestRankAttributions(t *testing.T) {
	got := RankAttributions([]Attribution{
		{Artist: "monet", Probability: 0.2},
		{Artist: "vangogh", Probability: 0.6},
		{Artist: "cezanne", Probability: 0.2},
	}, 0)
	want := []struct {
		artist string
		share  float64
	}{{"vangogh", 0.6}, {"cezanne", 0.2}, {"monet", 0.2}}
	if len(got) != len(want) {
		t.Fatalf("%d candidates, want %d", len(got), len(want))
	}
	for i, w := range want {
		if got[i].Rank != i+1 || got[i].Artist != w.artist ||
			got[i].Share < w.share-1e-12 || got[i].Share > w.share+1e-12 {
			t.Errorf("rank %d = %+v, want %s with share %.1f", i+1, got[i], w.artist, w.share)
		}
	}
	if top := RankAttributions(got, 2); len(top) != 2 || top[1].Artist != "cezanne" {
		t.Errorf("max 2: %+v", top)
	}
	if z := RankAttributions([]Attribution{{Artist: "a"}, {Artist: "b"}}, 0); z[0].Share != 0 ||
		z[0].Artist != "a" {
		t.Errorf("all zero: %+v, want shares 0 and the names in order", z)
	}
}
