package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/registry"
	"github.com/artauth/artauth/internal/store"
)

const modelsUsage = `usage:
  authctl models register DIR...          upload model version directories, staged
  authctl models activate ARTIST@VERSION  serve this version (workers switch without restart)
  authctl models rollback ARTIST          serve the version active before the current one
  authctl models list [ARTIST]            versions, states and hashes`

func modelsCmd(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("models: name a subcommand\n%s", modelsUsage)
	}
	var (
		common config.Common
		rc     registry.Config
	)
	fs := config.New("authctl models " + args[0])
	fs.AddCommon(&common)
	fs.String(&rc.Bucket, "models-bucket", "MODELS_BUCKET", "models",
		"S3 bucket of registered model files")
	fs.String(&rc.NoticeSubject, "model-notice-subject", "MODEL_NOTICE_SUBJECT",
		"artauth.models.activated", "NATS subject of model activation notices")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, common.DatabaseURL, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	blobs, err := blob.New(ctx, common.S3)
	if err != nil {
		return err
	}
	var nc *nats.Conn
	if args[0] == "activate" || args[0] == "rollback" {
		if nc, _, err = common.ConnectNATS("authctl"); err != nil {
			return err
		}
		defer nc.Close()
	}
	reg := registry.New(rc, st, blobs, nc, zerolog.Nop())

	switch args[0] {
	case "register":
		if fs.NArg() == 0 {
			return fmt.Errorf("models register: name at least one model version directory")
		}
		for _, dir := range fs.Args() {
			m, err := reg.Register(ctx, dir)
			if err != nil {
				return err
			}
			fmt.Printf("registered %s@%s sha256=%s state=%s\n", m.Artist, m.Version, m.SHA256,
				m.State)
		}
	case "activate":
		artist, version, ok := strings.Cut(fs.Arg(0), "@")
		if fs.NArg() != 1 || !ok {
			return fmt.Errorf("models activate: want ARTIST@VERSION, got %q", fs.Arg(0))
		}
		prev, err := reg.Activate(ctx, artist, version)
		if err != nil {
			return err
		}
		from := "none"
		if prev != nil {
			from = prev.Version
		}
		fmt.Printf("activated %s@%s (was %s)\n", artist, version, from)
	case "rollback":
		if fs.NArg() != 1 {
			return fmt.Errorf("models rollback: name one artist")
		}
		m, err := reg.Rollback(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Printf("rolled back %s to %s\n", m.Artist, m.Version)
	case "list":
		models, err := st.ListModels(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "ARTIST\tVERSION\tSTATE\tARCH\tTHRESHOLD\tSHA256\tREGISTERED")
		for _, m := range models {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.3f\t%s\t%s\n", m.Artist, m.Version, m.State,
				m.Arch, m.Threshold, m.SHA256[:12], m.CreatedAt.Format(time.RFC3339))
		}
		return tw.Flush()
	default:
		return fmt.Errorf("models: unknown subcommand %q\n%s", args[0], modelsUsage)
	}
	return nil
}
