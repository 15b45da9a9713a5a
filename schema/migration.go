package schema

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded version: its number, its name (the part of the
// file name between the version and the direction) and both SQL scripts.
type migration struct {
	Version  int
	Name     string
	UpFile   string
	UpSQL    string
	DownFile string
	DownSQL  string
}

var migrationFileRe = regexp.MustCompile(`^([0-9]{3,})_([a-z0-9_]+)\.(up|down)\.sql$`)

// migrations holds the embedded migrations sorted by version. Loading happens
// at package initialisation: a malformed set of files is a build defect, and
// TestMigrationsLoad catches it before anything ships.
var migrations = mustLoadMigrations(migrationFS, "migrations")

func mustLoadMigrations(fsys fs.FS, dir string) []migration {
	ms, err := loadMigrations(fsys, dir)
	if err != nil {
		panic(err)
	}
	return ms
}

// loadMigrations reads NNN_name.up.sql / NNN_name.down.sql pairs from dir.
// Versions must start at 1 and have no gaps, and every version needs both
// files under the same name.
func loadMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("schema: reading embedded migrations: %w", err)
	}

	byVersion := make(map[int]*migration)
	for _, entry := range entries {
		file := entry.Name()
		match := migrationFileRe.FindStringSubmatch(file)
		if match == nil {
			return nil, fmt.Errorf("schema: migration file %q: name must look like 001_name.up.sql or 001_name.down.sql", file)
		}
		version, err := strconv.Atoi(match[1])
		if err != nil || version < 1 {
			return nil, fmt.Errorf("schema: migration file %q: bad version %q", file, match[1])
		}
		body, err := fs.ReadFile(fsys, path.Join(dir, file))
		if err != nil {
			return nil, fmt.Errorf("schema: migration file %q: %w", file, err)
		}

		m := byVersion[version]
		if m == nil {
			m = &migration{Version: version, Name: match[2]}
			byVersion[version] = m
		}
		if m.Name != match[2] {
			return nil, fmt.Errorf("schema: migration file %q: version %03d is already named %q", file, version, m.Name)
		}
		switch match[3] {
		case "up":
			m.UpFile, m.UpSQL = file, string(body)
		case "down":
			m.DownFile, m.DownSQL = file, string(body)
		}
	}

	out := make([]migration, 0, len(byVersion))
	for _, m := range byVersion {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Version < out[j].Version })

	for i, m := range out {
		if m.Version != i+1 {
			return nil, fmt.Errorf("schema: migration versions must run 1, 2, 3... without gaps; found %03d where %03d was expected", m.Version, i+1)
		}
		if m.UpFile == "" {
			return nil, fmt.Errorf("schema: migration %03d_%s has no .up.sql file", m.Version, m.Name)
		}
		if m.DownFile == "" {
			return nil, fmt.Errorf("schema: migration %03d_%s has no .down.sql file", m.Version, m.Name)
		}
	}
	return out, nil
}

// Latest returns the highest migration version embedded in this build. A
// schema migrated with default options ends up at this version.
func Latest() int {
	if len(migrations) == 0 {
		return 0
	}
	return migrations[len(migrations)-1].Version
}
