package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/provenance"
	"github.com/artauth/artauth/internal/store"
)

// referencesCmd registers known works: uploads close to one of them are flagged as
// near-duplicates of a known work.
func referencesCmd(args []string) error {
	if len(args) == 0 || args[0] != "add" {
		return fmt.Errorf("references: usage: authctl references add -artist A [-title T] " +
			"[-source S] FILE...")
	}
	var (
		dbURL, artist, title, source string
	)
	fs := config.New("authctl references add")
	fs.String(&dbURL, "database-url", "DATABASE_URL",
		"postgres://postgres@127.0.0.1:5432/artauth?sslmode=disable", "Postgres connection URL")
	fs.String(&artist, "artist", "", "", "artist slug of the works")
	fs.String(&title, "title", "", "", "title (default: the file name)")
	fs.String(&source, "source", "", "", "where the reference comes from, e.g. a catalogue")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if artist == "" || fs.NArg() == 0 {
		return fmt.Errorf("references add: -artist and at least one file are required")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dbURL, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	for _, f := range fs.Args() {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		sig, err := provenance.Extract(data)
		if err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		if !sig.Decoded {
			return fmt.Errorf("%s: not a decodable image: %s", f, sig.DecodeError)
		}
		t := title
		if t == "" {
			t = filepath.Base(f)
		}
		w, err := st.AddReferenceWork(ctx, store.ReferenceWork{Artist: artist, Title: t,
			Source: source, SHA256: sig.SHA256, PHash: int64(sig.PHash),
			DHash: int64(sig.DHash)})
		if err != nil {
			return err
		}
		fmt.Printf("reference %s %s phash=%s %s\n", w.ID, artist, sig.PHash, f)
	}
	return nil
}
