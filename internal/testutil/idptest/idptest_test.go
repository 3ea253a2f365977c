package idptest

import (
	"io"
	"strings"
	"testing"
)

func TestStartServesEveryAdapter(t *testing.T) {
	p := Start(t, Options{})
	c := p.Client()
	for path, want := range map[string]string{
		"/healthz":                 "ok",
		"/saml/metadata":           "EntityDescriptor",
		"/adfs/services/trust/mex": "wsdl:definitions",
		"/FederationMetadata/2007-06/FederationMetadata.xml": "SecurityTokenServiceType",
	} {
		resp, err := c.Get(p.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("GET %s: %d %.200s", path, resp.StatusCode, b)
		}
	}
}
