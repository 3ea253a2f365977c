package saml

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkSSO measures one SP-initiated sign-in with an existing session through the handler.
func BenchmarkSSO(b *testing.B) {
	e := newEnv(b, testSP(false))
	e.signIn(t0, false)
	reqs := make([]string, b.N)
	for i := range reqs {
		reqs[i] = "/saml/sso?" + redirectQuery("SAMLRequest", authnReq{ID: "_b" + itoa(i)}.xml(), "rs", nil)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, reqs[i], nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
	}
}

func itoa(i int) string {
	const d = "0123456789"
	if i < 10 {
		return d[i : i+1]
	}
	return itoa(i/10) + d[i%10:i%10+1]
}
