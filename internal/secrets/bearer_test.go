package secrets

import (
	"strings"
	"testing"
)

func TestBearerFormat(t *testing.T) {
	const f = BearerFormat("skx_")
	id, secret, token, err := f.New()
	if err != nil {
		t.Fatal(err)
	}
	if gid, gsecret, ok := f.Parse(token); !ok || gid != id || gsecret != secret || len(id) != 16 || len(secret) != 43 {
		t.Fatalf("round trip: %q → %q %q %v", token, gid, gsecret, ok)
	}
	for name, bad := range map[string]string{
		"another prefix":  "sky_" + id + "_" + secret,
		"no separator":    "skx_" + id + secret,
		"short secret":    token[:len(token)-1],
		"ID not hex":      "skx_" + strings.Repeat("z", 16) + "_" + secret,
		"empty":           "",
		"prefix only":     "skx_",
		"secret too long": token + "A",
	} {
		if _, _, ok := f.Parse(bad); ok {
			t.Errorf("%s: %q parsed", name, bad)
		}
	}
}
