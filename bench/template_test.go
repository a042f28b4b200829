package bench

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/artauth/artauth/internal/testenv"
)

// TestTemplateRenders fills the benchmark document's template with a summary holding every
// key a run writes, so that a template mistake fails here in seconds rather than at the end
// of a long `make bench`.
func TestTemplateRenders(t *testing.T) {
	sum := summary{
		"machine": map[string]any{"cpu": "test cpu", "cores": 2, "memory_gb": 24.0,
			"go": "go1.x", "onnxruntime": "1.x", "os": "linux"},
		"measured_at": "2026-01-01T00:00:00Z", "note": "", "torch_version": "1.x",
		"model": "resnet101", "batch_size": 8, "threads": 2, "images": 64,
		"jpeg_24mp_bytes": 1000, "rounds": 3,
		"pipeline_to_raw_ratios": []float64{0.9, 0.95, 1.0}, "raw_layout": "a",
		"pipeline_layout": "b", "layouts": []map[string]any{{"name": "a",
			"raw_img_per_s": 1.0, "pipeline_img_per_s": 2.0}},
		"pipeline_to_raw_ratios_strict": []float64{0.9, 0.95, 1.0},
		"torch_runs_img_per_s":          []float64{1, 2, 3},
		"pipeline_to_torch_ratios":      []float64{1, 2, 3},
		"preprocess_speedups":           []float64{1, 2, 3},
	}
	for _, k := range []string{"pipeline_img_per_s", "raw_ort_img_per_s",
		"pipeline_to_raw_ratio", "torch_img_per_s", "pipeline_to_torch_ratio",
		"pipeline_with_startup_img_per_s", "preprocess_24mp_ms", "stdlib_decode_24mp_ms",
		"preprocess_speedup", "preprocess_24mp_ratio2_ms", "preprocess_ratio2_speedup",
		"preprocess_24mp_exact_ms", "preprocess_exact_speedup", "churn_models",
		"churn_budget", "churn_peak_rss_mb", "churn_img_per_s", "churn_base_rss_mb",
		"churn_images", "churn_max_resident_models",
		"attribution_1_models_ms_per_image", "attribution_10_models_ms_per_image",
		"attribution_100_models_ms_per_image", "attribution_1_models_baseline_ms_per_image",
		"attribution_10_models_baseline_ms_per_image",
		"attribution_100_models_baseline_ms_per_image", "servers_cores_busy",
		"pipeline_to_raw_ratio_min", "pipeline_to_raw_ratio_max",
		"pipeline_to_raw_ratio_strict"} {
		sum[k] = 1.5
	}
	doc, err := render(filepath.Join(testenv.Repo(t), "bench", "BENCHMARKS.md.tmpl"), sum)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "<no value>") || !strings.Contains(string(doc), "test cpu") {
		t.Fatalf("rendered document:\n%s", doc)
	}
}
