package web

import (
	"github.com/sekisho/sekisho/internal/testutil/i18ntest"
	"strings"
	"testing"
)

func TestFromAcceptLanguage(t *testing.T) {
	cases := map[string]string{
		"":                        "en",
		"ja":                      "ja",
		"ja-JP,ja;q=0.9,en;q=0.8": "ja",
		"en-US,en;q=0.9,ja;q=0.8": "en",
		"fr-FR,ja;q=0.5,en;q=0.4": "ja",
		"de, fr":                  "en",
		"en;q=0.1, ja;q=0.2":      "ja",
		"ja;q=garbage, en;q=0.5":  "ja",
	}
	for h, want := range cases {
		if got := FromAcceptLanguage(h); got != want {
			t.Errorf("FromAcceptLanguage(%q) = %q, want %q", h, got, want)
		}
	}
}

func TestEveryMessageTranslated(t *testing.T) {
	for k, en := range messages["en"] {
		ja, ok := messages["ja"][k]
		if !ok || strings.TrimSpace(ja) == "" {
			t.Errorf("message %q has no Japanese text", k)
		}
		if k != "product" && ja == en {
			t.Errorf("message %q is not translated: %q", k, ja)
		}
	}
	if len(messages["ja"]) != len(messages["en"]) {
		t.Errorf("ja has %d messages, en %d", len(messages["ja"]), len(messages["en"]))
	}
}

// Every key a template asks for exists (an absent one renders as nothing or a placeholder).
func TestTemplatesNameOnlyKnownKeys(t *testing.T) {
	i18ntest.TemplatesNameOnlyKnownKeys(t, templateFS, "templates/*.html", messages["en"])
}
