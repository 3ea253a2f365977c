package api

import (
	"net/http"
	"reflect"
	"strings"

	"github.com/sekisho/sekisho/internal/console/roles"
)

// operation is one entry of the API: its route, who may call it, what it takes and returns,
// and the function that does it. The mux and the OpenAPI document are both made from these.
type operation struct {
	ID, Method, Path string // Path below Prefix, with {name} path parameters
	Summary          string // a verb phrase: "list users"
	Tag              string
	Area             roles.Area
	Change           bool // needs the right to change Area (else to read it)
	Status           int  // on success
	Query            []param
	In, Out          reflect.Type // none: no body
	InContent        string       // the request body's media type (application/json)
	InExample        any
	OutExample       any
	run              func(c *call, w http.ResponseWriter) (any, error)
}

// param is a query parameter.
type param struct {
	Name, Description, Type string // Type: string, integer, boolean
}

// spec is what an operation's declaration says besides its function.
type spec struct {
	id, summary, tag string
	area             roles.Area
	change           bool
	status           int
	query            []param
	inExample        any
	outExample       any
}

// op declares an operation whose request body (unless In is none) is JSON decoded into In.
func op[In, Out any](method, path string, s spec, fn func(c *call, in In) (Out, error)) *operation {
	o := &operation{ID: s.id, Method: method, Path: path, Summary: s.summary, Tag: s.tag, Area: s.area, Change: s.change,
		Status: s.status, Query: s.query, In: reflect.TypeFor[In](), Out: reflect.TypeFor[Out](), InExample: s.inExample,
		OutExample: s.outExample}
	if o.Status == 0 {
		o.Status = http.StatusOK
	}
	if !isNone(o.In) {
		o.InContent = "application/json"
	}
	o.run = func(c *call, w http.ResponseWriter) (any, error) {
		var in In
		if !isNone(o.In) {
			if err := decodeJSON(w, c.r, &in); err != nil {
				return nil, err
			}
		}
		return fn(c, in)
	}
	return o
}

// pathParams lists the {name} parameters of a path.
func pathParams(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.TrimPrefix(seg, "{"), "}"))
		}
	}
	return out
}
