package main

import (
	"context"
	"fmt"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/store"
)

func migrateCmd(args []string) error {
	var (
		dbURL  string
		target int
		create bool
	)
	fs := config.New("authctl migrate")
	fs.String(&dbURL, "database-url", "DATABASE_URL",
		"postgres://postgres@127.0.0.1:5432/artauth?sslmode=disable", "Postgres connection URL")
	fs.Int(&target, "to", "", -1, "schema version to reach; -1 for the latest, 0 to drop all")
	fs.Bool(&create, "create", "", false, "create the database first when it does not exist")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx := context.Background()
	if create {
		if err := store.CreateDatabase(ctx, dbURL); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, dbURL, 2)
	if err != nil {
		return err
	}
	defer st.Close()
	v, err := st.Migrate(ctx, target)
	if err != nil {
		return err
	}
	fmt.Printf("schema at version %d\n", v)
	return nil
}
