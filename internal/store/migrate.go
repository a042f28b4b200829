package store

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/artauth/artauth/migrations"
)

// migrateLock is the advisory lock key that serialises migrations between processes.
const migrateLock = 0x61727461 // "arta"

type migration struct {
	version  int
	name     string
	up, down string
}

func loadMigrations() ([]migration, error) {
	entries, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	byVersion := map[int]*migration{}
	for _, file := range entries {
		base := strings.TrimSuffix(file, ".sql")
		dir := base[strings.LastIndexByte(base, '.')+1:]
		base = strings.TrimSuffix(base, "."+dir)
		num, name, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || (dir != "up" && dir != "down") {
			return nil, fmt.Errorf("migration file %q: want N_name.up.sql or N_name.down.sql", file)
		}
		body, err := fs.ReadFile(migrations.FS, file)
		if err != nil {
			return nil, fmt.Errorf("read migration %q: %w", file, err)
		}
		m := byVersion[v]
		if m == nil {
			m = &migration{version: v, name: name}
			byVersion[v] = m
		}
		if dir == "up" {
			m.up = string(body)
		} else {
			m.down = string(body)
		}
	}
	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		if m.up == "" || m.down == "" {
			return nil, fmt.Errorf("migration %d (%s) lacks its up or down file", m.version, m.name)
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate moves the schema to version target: every embedded migration when target < 0, none
// when target is 0. Each step runs in its own transaction under an advisory lock, so several
// processes starting together apply each migration once. It returns the version reached.
func (s *Store) Migrate(ctx context.Context, target int) (int, error) {
	all, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	if target < 0 && len(all) > 0 {
		target = all[len(all)-1].version
	}
	conn, err := s.Pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire connection for migrations: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrateLock); err != nil {
		return 0, fmt.Errorf("take migration lock: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrateLock)

	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version integer PRIMARY KEY, name text NOT NULL,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, fmt.Errorf("create schema_migrations: %w", err)
	}
	var current int
	if err := conn.QueryRow(ctx,
		`SELECT coalesce(max(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}

	for _, m := range all {
		if m.version > current && m.version <= target {
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.up); err != nil {
					return err
				}
				_, err := tx.Exec(ctx,
					`INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
				return err
			})
			if err != nil {
				return current, fmt.Errorf("apply migration %d (%s): %w", m.version, m.name, err)
			}
			current = m.version
		}
	}
	for i := len(all) - 1; i >= 0; i-- {
		m := all[i]
		if m.version <= current && m.version > target {
			err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
				if _, err := tx.Exec(ctx, m.down); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, `DELETE FROM schema_migrations WHERE version = $1`, m.version)
				return err
			})
			if err != nil {
				return current, fmt.Errorf("revert migration %d (%s): %w", m.version, m.name, err)
			}
			current = 0
			if i > 0 {
				current = all[i-1].version
			}
		}
	}
	return current, nil
}
