package api

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// newValidator loads doc with an independent OpenAPI implementation (pb33f/libopenapi) and
// fails unless it is a valid OpenAPI 3.1 document.
func newValidator(t *testing.T, doc []byte) validator.Validator {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("the document does not load: %v", err)
	}
	v, errs := validator.NewValidator(d)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %s %s (%s)", e.Message, e.Reason, e.HowToFix)
		}
		t.FailNow()
	}
	return v
}

func concrete(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "x"
			if s == "{version}" {
				segs[i] = "1"
			}
		}
	}
	return strings.Join(segs, "/")
}

// TestDocument checks the OpenAPI document made from the operation table: valid 3.1, one
// entry per operation, and every request and response example valid against its schema —
// with a counter-example to show the schemas refuse what they should.
func TestDocument(t *testing.T) {
	a := &API{BaseURL: "https://sekisho.example.com"}
	a.ops = operations(a)
	raw, err := json.Marshal(a.Document())
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t, raw)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	ids := map[string]bool{}
	n := 0
	for _, op := range a.ops {
		if ids[op.ID] {
			t.Errorf("operationId %s twice", op.ID)
		}
		ids[op.ID] = true
		if doc.Paths[op.Path][strings.ToLower(op.Method)]["operationId"] != op.ID {
			t.Errorf("%s %s not in the document as %s", op.Method, op.Path, op.ID)
		}
		if op.InContent != "" && op.InExample == nil {
			t.Errorf("%s takes a body but has no example", op.ID)
		}
	}
	for _, item := range doc.Paths {
		n += len(item)
	}
	if n != len(a.ops) {
		t.Errorf("the document has %d operations, the table %d", n, len(a.ops))
	}

	request := func(op *operation, body []byte) *http.Request {
		r, _ := http.NewRequest(op.Method, "https://sekisho.example.com"+Prefix+concrete(op.Path), bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer skt_x")
		return r
	}
	for _, op := range a.ops {
		if op.InExample != nil {
			body, _ := json.Marshal(op.InExample)
			if ok, errs := v.ValidateHttpRequest(request(op, body)); !ok {
				t.Errorf("%s: request example invalid: %s", op.ID, msgs(errs))
			}
		}
		if op.OutExample != nil {
			body, _ := json.Marshal(op.OutExample)
			resp := &http.Response{StatusCode: op.Status, Header: http.Header{"Content-Type": {"application/json"}}, Body: io.NopCloser(bytes.NewReader(body))}
			if ok, errs := v.ValidateHttpResponse(request(op, nil), resp); !ok {
				t.Errorf("%s: response example invalid: %s", op.ID, msgs(errs))
			}
		}
	}
	// Counter-examples: an unknown field, a wrong type, a missing required field.
	create := findOp(t, a, "createUser")
	for _, bad := range []string{`{"upn":"x@example.com","admin":true}`, `{"upn":7}`, `{"displayName":"no upn"}`} {
		if ok, _ := v.ValidateHttpRequest(request(create, []byte(bad))); ok {
			t.Errorf("the schema accepts %s", bad)
		}
	}
	list := findOp(t, a, "listUsers")
	resp := &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`{"users":"nobody","matched":0,"truncated":false}`))}
	if ok, _ := v.ValidateHttpResponse(request(list, nil), resp); ok {
		t.Error("the schema accepts a response whose users is not a list")
	}
}

func findOp(t *testing.T, a *API, id string) *operation {
	for _, op := range a.ops {
		if op.ID == id {
			return op
		}
	}
	t.Fatalf("no operation %s", id)
	return nil
}

func msgs[E interface{ Error() string }](errs []E) string {
	var b strings.Builder
	for _, e := range errs {
		b.WriteString(e.Error() + "; ")
	}
	return b.String()
}
