package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/eval"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
)

// dirList is a repeatable folder flag.
type dirList []string

func (d *dirList) String() string { return strings.Join(*d, ",") }

func (d *dirList) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty folder")
	}
	*d = append(*d, v)
	return nil
}

// evalCmd runs a model over labelled folders with the worker's preprocessing and ONNX
// Runtime path and prints the published table, or JSON.
func evalCmd(args []string) error {
	var (
		modelSpec, modelsDir, ortLib, splitPath, splitPart string
		asJSON, perImage, checkGolden                      bool
		threads, batch, conc                               int
		pos, neg, ai                                       dirList
	)
	fs := config.New("authctl eval")
	fs.String(&modelSpec, "model", "", "",
		"model version directory, or ARTIST@VERSION under -models-dir")
	fs.String(&modelsDir, "models-dir", "MODELS_DIR", "models",
		"root laid out <artist>/<version>/ for ARTIST@VERSION")
	fs.Var(&pos, "positive", "folder of the artist's images (repeatable, recursive)")
	fs.Var(&neg, "negative", "folder of other artists' images (repeatable, recursive)")
	fs.Var(&ai, "ai", "folder of AI imitations; sub-folders are generators (repeatable)")
	fs.String(&splitPath, "split", "", "",
		"split.csv of the model: score only the positives and negatives it lists for -split-part")
	fs.String(&splitPart, "split-part", "", "test", "train, val or test")
	fs.Bool(&asJSON, "json", "", false, "print the report as JSON")
	fs.Bool(&perImage, "per-image", "", false, "include every image's score in the JSON")
	fs.Bool(&checkGolden, "check-golden", "", false,
		"first check the model's golden vectors and embedded metadata; fail on a mismatch")
	fs.String(&ortLib, "ort-lib", "ORT_LIB", "/usr/local/lib/libonnxruntime.so.1",
		"ONNX Runtime shared library")
	fs.Int(&threads, "intra-op-threads", "ORT_INTRA_OP_THREADS", 0,
		"threads inside an operator (0: ONNX Runtime's default)")
	fs.Int(&batch, "batch-size", "BATCH_SIZE", 16, "images per ONNX Runtime run")
	fs.Int(&conc, "concurrency", "CONCURRENCY", 0, "images preprocessed at once (0: one per core)")
	var record, dbURL string
	fs.String(&record, "record", "", "",
		"store the report with the model version in the registry under this data-set name "+
			"(the version must be registered)")
	fs.String(&dbURL, "database-url", "DATABASE_URL",
		"postgres://postgres@127.0.0.1:5432/artauth?sslmode=disable", "Postgres, for -record")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("eval: unexpected arguments %q", fs.Args())
	}
	if splitPath == "" && splitPart != "test" {
		return fmt.Errorf("eval: -split-part %s needs -split", splitPart)
	}
	cfg := eval.Config{Positive: pos, Negative: neg, AI: ai, SplitPart: splitPart,
		BatchSize: batch, Concurrency: conc, KeepImages: perImage}
	if splitPath != "" {
		var err error
		if cfg.Split, err = eval.ReadSplit(splitPath); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	if err := inference.Init(ortLib); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	m, err := loadModel(modelSpec, modelsDir, threads)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	defer m.Close()
	if checkGolden {
		if _, err := eval.CheckEmbedded(m); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		res, err := eval.CheckGolden(m)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		worst := 0.0
		for _, r := range res {
			worst = max(worst, r.LogitDiff())
		}
		fmt.Fprintf(os.Stderr, "golden vectors: %d images match PyTorch (max |logit diff| "+
			"%.2g, tolerance %g)\n", len(res), worst, eval.GoldenLogitTolerance)
	}
	rep, err := eval.Run(context.Background(), m, cfg)
	if err != nil {
		return err
	}
	if record != "" {
		if err := recordEval(dbURL, m.Meta.Artist, m.Meta.Version, record, rep); err != nil {
			return fmt.Errorf("eval: %w", err)
		}
	}
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	return rep.WriteTable(os.Stdout)
}

// recordEval stores a report in the registry beside the model version it measured.
func recordEval(dbURL, artist, version, dataset string, rep any) error {
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL, 1)
	if err != nil {
		return err
	}
	defer st.Close()
	b, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	return st.AddEvaluation(ctx, artist, version, dataset, b)
}

// loadModel resolves a -model argument (directory or ARTIST@VERSION) and loads it on the
// CPU the way the worker does.
func loadModel(spec, modelsDir string, threads int) (*inference.Model, error) {
	dir, err := eval.ResolveModel(spec, modelsDir)
	if err != nil {
		return nil, err
	}
	return inference.Load(dir, inference.SessionConfig{Device: inference.CPU,
		IntraOpThreads: threads}, zerolog.Nop())
}
