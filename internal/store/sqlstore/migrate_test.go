package sqlstore

import (
	"strings"
	"testing"
	"testing/fstest"
)

func TestLoadMigrations(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		want    []int // versions in order
		wantErr string
	}{
		{"ordered by number, not name", map[string]string{
			"m/0010_later.sql": "x", "m/0002_second.sql": "x", "m/0001_init.sql": "x", "m/README": "ignored",
		}, []int{1, 2, 10}, ""},
		{"no number", map[string]string{"m/init.sql": "x"}, nil, "positive version"},
		{"zero", map[string]string{"m/0000_init.sql": "x"}, nil, "positive version"},
		{"duplicate", map[string]string{"m/0001_a.sql": "x", "m/1_b.sql": "x"}, nil, "share version 1"},
		{"missing dir", map[string]string{"other/0001_a.sql": "x"}, nil, "read migrations"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for name, body := range tc.files {
				fsys[name] = &fstest.MapFile{Data: []byte(body)}
			}
			ms, err := LoadMigrations(fsys, "m")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []int
			for _, m := range ms {
				got = append(got, m.Version)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("versions = %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("versions = %v, want %v", got, tc.want)
				}
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	for n, want := range map[int]string{0: "", 1: "?", 3: "?, ?, ?"} {
		if got := placeholders(n); got != want {
			t.Errorf("placeholders(%d) = %q, want %q", n, got, want)
		}
	}
}
