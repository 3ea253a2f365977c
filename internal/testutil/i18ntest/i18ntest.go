// Package i18ntest checks the message tables of the pages: every key a template asks for
// exists, so no page shows an empty link or a ⟦key⟧ placeholder.
package i18ntest

import (
	"io/fs"
	"regexp"
	"testing"
)

var keyRe = regexp.MustCompile(`\bt \$?\.Lang "([a-z0-9_]+)"`)

// TemplatesNameOnlyKnownKeys fails t for every `t .Lang "key"` in the templates matching glob
// in fsys whose key messages does not define.
func TemplatesNameOnlyKnownKeys(t *testing.T, fsys fs.FS, glob string, messages map[string]string) {
	t.Helper()
	files, err := fs.Glob(fsys, glob)
	if err != nil || len(files) == 0 {
		t.Fatalf("templates %s: %v", glob, err)
	}
	for _, f := range files {
		b, err := fs.ReadFile(fsys, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range keyRe.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages[m[1]]; !ok {
				t.Errorf("%s asks for message %q, which does not exist", f, m[1])
			}
		}
	}
}
