package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/eval"
	"github.com/artauth/artauth/internal/inference"
)

// artistDirs is the repeatable -images ARTIST=DIR flag.
type artistDirs map[string][]string

func (a artistDirs) String() string {
	var parts []string
	for k, v := range a {
		parts = append(parts, k+"="+strings.Join(v, ","))
	}
	return strings.Join(parts, " ")
}

func (a artistDirs) Set(v string) error {
	artist, dir, ok := strings.Cut(v, "=")
	if !ok || artist == "" || dir == "" {
		return fmt.Errorf("%q: want ARTIST=FOLDER", v)
	}
	a[artist] = append(a[artist], dir)
	return nil
}

// attributionCmd ranks held-out images of several artists with those artists' models, as
// the worker's attribution does, and prints how often the true artist comes first.
func attributionCmd(args []string) error {
	var (
		models                dirList
		modelsDir, ortLib     string
		asJSON, perImage, all bool
		threads, batch, conc  int
		images                = artistDirs{}
	)
	fs := config.New("authctl attribution")
	fs.Var(&models, "model", "an artist model: directory or ARTIST@VERSION (repeat, 2 or more)")
	fs.String(&modelsDir, "models-dir", "MODELS_DIR", "models",
		"root laid out <artist>/<version>/ for ARTIST@VERSION")
	fs.Var(images, "images", "ARTIST=FOLDER of that artist's images (repeatable, recursive)")
	fs.Bool(&all, "all-images", "", false,
		"rank every image, also those a model's split.csv puts in training or validation")
	fs.Bool(&asJSON, "json", "", false, "print the report as JSON")
	fs.Bool(&perImage, "per-image", "", false, "include every image's ranking in the JSON")
	fs.String(&ortLib, "ort-lib", "ORT_LIB", "/usr/local/lib/libonnxruntime.so.1",
		"ONNX Runtime shared library")
	fs.Int(&threads, "intra-op-threads", "ORT_INTRA_OP_THREADS", 0,
		"threads inside an operator (0: ONNX Runtime's default)")
	fs.Int(&batch, "batch-size", "BATCH_SIZE", 16, "images per ONNX Runtime run")
	fs.Int(&conc, "concurrency", "CONCURRENCY", 0, "images preprocessed at once (0: one per core)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("attribution: unexpected arguments %q", fs.Args())
	}
	if len(models) < 2 || len(images) == 0 {
		return fmt.Errorf("attribution: give at least two -model and one -images")
	}
	if err := inference.Init(ortLib); err != nil {
		return fmt.Errorf("attribution: %w", err)
	}
	cfg := eval.AttributionConfig{Images: images, BatchSize: batch, Concurrency: conc,
		KeepImages: perImage}
	for _, spec := range models {
		m, err := loadModel(spec, modelsDir, threads)
		if err != nil {
			return fmt.Errorf("attribution: %w", err)
		}
		defer m.Close()
		cfg.Models = append(cfg.Models, m)
		var split *eval.Split
		if p := filepath.Join(m.Dir, "split.csv"); !all {
			if _, err := os.Stat(p); err == nil {
				if split, err = eval.ReadSplit(p); err != nil {
					return fmt.Errorf("attribution: %w", err)
				}
			}
		}
		cfg.Splits = append(cfg.Splits, split)
	}
	rep, err := eval.Attribution(context.Background(), cfg)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(os.Stdout)
}
