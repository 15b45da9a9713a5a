package schema

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestMigrationsLoad(t *testing.T) {
	t.Parallel()
	if len(migrations) == 0 || migrations[0].Version != 1 || migrations[0].Name != "core" {
		t.Fatalf("embedded migrations: %+v", migrations)
	}
	for _, m := range migrations {
		if strings.TrimSpace(m.UpSQL) == "" || strings.TrimSpace(m.DownSQL) == "" {
			t.Errorf("migration %03d has an empty script", m.Version)
		}
	}
}

func TestLoadMigrationsRejectsMalformedSets(t *testing.T) {
	t.Parallel()
	file := func(body string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(body)} }
	cases := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"MissingDown", fstest.MapFS{"m/001_a.up.sql": file("x")}, "001_a has no .down.sql"},
		{"MissingUp", fstest.MapFS{"m/001_a.down.sql": file("x")}, "001_a has no .up.sql"},
		{"Gap", fstest.MapFS{
			"m/001_a.up.sql": file("x"), "m/001_a.down.sql": file("x"),
			"m/003_c.up.sql": file("x"), "m/003_c.down.sql": file("x"),
		}, "found 003 where 002 was expected"},
		{"NamesDisagree", fstest.MapFS{"m/001_a.up.sql": file("x"), "m/001_b.down.sql": file("x")}, "already named"},
		{"BadFileName", fstest.MapFS{"m/1-a.sql": file("x")}, `"1-a.sql"`},
		{"VersionZero", fstest.MapFS{"m/000_a.up.sql": file("x")}, "bad version"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadMigrations(c.files, "m")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	ms, err := loadMigrations(fstest.MapFS{
		"m/002_b.down.sql": file("down b"), "m/001_a.up.sql": file("up a"),
		"m/002_b.up.sql": file("up b"), "m/001_a.down.sql": file("down a"),
	}, "m")
	if err != nil || len(ms) != 2 || ms[1].Version != 2 || ms[1].Name != "b" || ms[1].UpSQL != "up b" || ms[0].DownFile != "001_a.down.sql" {
		t.Fatalf("well-formed set: got %+v, %v", ms, err)
	}
}
