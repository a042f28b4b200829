// Package migrations holds the database schema as ordered SQL files, embedded in the binaries
// so that `authctl migrate` needs nothing beside itself. Each version N has N_name.up.sql and
// N_name.down.sql; internal/store applies them.
package migrations

import "embed"

// FS holds every *.sql file of this directory.
//
//go:embed *.sql
var FS embed.FS
