package wstrust_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/protocol/wstrust"
)

// hardenedCases are well-formed RSTs with a correct password that the hardened XML reader
// (the one SAML uses) refuses: each would reach the gate if only the XML syntax were checked.
func hardenedCases() map[string]string {
	ok := rstOpts{user: "alice@example.com", pass: "correct horse"}
	with := func(f func(*rstOpts)) string { o := ok; f(&o); return rst(o) }
	return map[string]string{
		"deeply nested header":          with(func(o *rstOpts) { o.suffix = strings.Repeat("<x>", 40) + strings.Repeat("</x>", 40) }),
		"DTD inside the envelope":       with(func(o *rstOpts) { o.suffix = `<x><!DOCTYPE x [<!ELEMENT x ANY>]></x>` }),
		"directive inside the envelope": with(func(o *rstOpts) { o.suffix = `<x><!NOTATION n SYSTEM "n"></x>` }),
		"lower-case doctype":            with(func(o *rstOpts) { o.prefix = `<!doctype x>` }),
		"processing instruction":        with(func(o *rstOpts) { o.suffix = `<x><?pi data?></x>` }),
	}
}

func TestParseRSTHardened(t *testing.T) {
	for name, body := range hardenedCases() {
		t.Run(name, func(t *testing.T) {
			if err := etree.NewDocument().ReadFromString(body); err != nil {
				t.Fatalf("test body is not well-formed XML: %v", err)
			}
			if _, err := wstrust.ParseRST([]byte(body)); !errors.Is(err, wstrust.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

// TestHardenedRefusals: the refused RSTs get exactly the answer of any other malformed request
// (the InvalidRequest SOAP fault, a bad_request rejection) and never reach the gate.
func TestHardenedRefusals(t *testing.T) {
	e := newEnv(t)
	code, malformed := e.post(t, wstrust.Path13, "<s:Envelope", nil)
	if code != http.StatusInternalServerError || !strings.Contains(malformed, "wst:InvalidRequest</s:Value>") {
		t.Fatalf("malformed XML: status %d, %s", code, malformed)
	}
	cases := hardenedCases()
	cases["DTD before the envelope"] = rst(rstOpts{user: "alice@example.com", pass: "correct horse", prefix: `<!DOCTYPE x [<!ENTITY a "b">]>`})
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			calls, rejects := len(e.gate.Calls()), len(e.Rejects())
			code, got := e.post(t, wstrust.Path13, body, nil)
			if code != http.StatusInternalServerError || got != malformed {
				t.Fatalf("status %d, answer\n%s\nwant the malformed-XML answer\n%s", code, got, malformed)
			}
			if len(e.gate.Calls()) != calls {
				t.Error("gate called")
			}
			if rj := e.Rejects()[rejects:]; len(rj) != 1 || rj[0].Reason != "bad_request" || rj[0].Detail == "" {
				t.Errorf("rejections %+v, want one bad_request with detail", rj)
			}
		})
	}
}
