package console

import (
	"github.com/sekisho/sekisho/internal/testutil/i18ntest"
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

// Every key a template asks for exists (an absent one renders as nothing or a placeholder).
func TestTemplatesNameOnlyKnownKeys(t *testing.T) {
	i18ntest.TemplatesNameOnlyKnownKeys(t, templateFS, "templates/*.html", messages["en"])
}
