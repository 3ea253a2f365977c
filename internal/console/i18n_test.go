package console

import (
	"io/fs"
	"regexp"
	"testing"
)

func TestEveryMessageInBothLanguages(t *testing.T) {
	for lang, other := range map[string]string{"en": "ja", "ja": "en"} {
		for k := range messages[lang] {
			if messages[other][k] == "" {
				t.Errorf("message %q has %s text but no %s text", k, lang, other)
			}
		}
	}
}

// Every key a template asks for exists (an absent one would render as ⟦key⟧).
func TestTemplatesNameOnlyKnownKeys(t *testing.T) {
	re := regexp.MustCompile(`\bt \$?\.Lang "([a-z0-9_]+)"`)
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil || len(files) == 0 {
		t.Fatalf("templates: %v", err)
	}
	for _, f := range files {
		b, _ := fs.ReadFile(templateFS, f)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if _, ok := messages["en"][m[1]]; !ok {
				t.Errorf("%s asks for message %q, which does not exist", f, m[1])
			}
		}
	}
}
