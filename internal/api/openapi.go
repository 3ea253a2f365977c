package api

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Document is the OpenAPI 3.1 description of every operation, made from the same table as
// the routes. Schemas come from the Go types the handlers encode and decode (json tags; a
// doc tag is the description, an enum tag the allowed values).
func (a *API) Document() map[string]any {
	g := &schemaGen{defs: map[string]any{}}
	paths := map[string]map[string]any{}
	for _, op := range a.ops {
		o := map[string]any{"operationId": op.ID, "summary": op.Summary, "tags": []string{op.Tag}}
		var params []any
		for _, p := range pathParams(op.Path) {
			params = append(params, map[string]any{"name": p, "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range op.Query {
			t := q.Type
			if t == "" {
				t = "string"
			}
			params = append(params, map[string]any{"name": q.Name, "in": "query", "description": q.Description, "schema": map[string]any{"type": t}})
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.InContent != "" {
			media := map[string]any{"schema": g.schema(op.In)}
			if op.InExample != nil {
				media["example"] = op.InExample
			}
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{op.InContent: media}}
		}
		ok := map[string]any{"description": http.StatusText(op.Status)}
		if op.Status != http.StatusNoContent {
			media := map[string]any{"schema": g.schema(op.Out)}
			if op.OutExample != nil {
				media["example"] = op.OutExample
			}
			ok["content"] = map[string]any{"application/json": media}
		}
		problem := map[string]any{"description": "RFC 9457 problem details", "content": map[string]any{
			"application/problem+json": map[string]any{"schema": g.schema(reflect.TypeFor[Problem]())}}}
		o["responses"] = map[string]any{strconv.Itoa(op.Status): ok, "default": problem}
		if op.Change {
			o["description"] = "Changes state: one transaction with one admin-audit entry naming the token's owner (via api)."
		}
		if paths[op.Path] == nil {
			paths[op.Path] = map[string]any{}
		}
		paths[op.Path][strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Sekisho admin API", "version": "1",
			"description": "The admin console's operations as JSON. Authenticate with an API token (sekisho token create); " +
				"each request passes the gate as the application sekisho-admin with protocol \"api\". Errors are RFC 9457 problem details."},
		"servers":    []any{map[string]any{"url": strings.TrimSuffix(a.BaseURL, "/") + Prefix}},
		"security":   []any{map[string]any{"token": []string{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": g.defs, "securitySchemes": map[string]any{"token": map[string]any{"type": "http", "scheme": "bearer", "description": "an API token, skt_…"}}},
	}
}

// schemaGen makes JSON Schemas (2020-12, as OpenAPI 3.1 uses) from Go types; named struct
// types become components.
type schemaGen struct{ defs map[string]any }

var timeType = reflect.TypeFor[time.Time]()
var rawType = reflect.TypeFor[json.RawMessage]()

func (g *schemaGen) schema(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"description": "any JSON value"}
	}
	switch t.Kind() {
	case reflect.Pointer:
		s := g.schema(t.Elem())
		return map[string]any{"anyOf": []any{s, map[string]any{"type": "null"}}}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		// A nil slice encodes as null.
		return map[string]any{"type": []string{"array", "null"}, "items": g.schema(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": []string{"object", "null"}, "additionalProperties": g.schema(t.Elem())}
	case reflect.Interface:
		return map[string]any{"description": "any JSON value"}
	case reflect.Struct:
		name := t.Name()
		if name == "" {
			return g.object(t)
		}
		if _, done := g.defs[name]; !done {
			g.defs[name] = map[string]any{} // a placeholder against recursion
			g.defs[name] = g.object(t)
		}
		return map[string]any{"$ref": "#/components/schemas/" + name}
	}
	panic("api: no schema for " + t.String())
}

func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for f := range t.Fields() {
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && name == "" {
				walk(f.Type)
				continue
			}
			if name == "" {
				name = f.Name
			}
			s := g.schema(f.Type)
			if d := f.Tag.Get("doc"); d != "" {
				s["description"] = d // every schema is a fresh map; a $ref keeps its siblings in 3.1
			}
			if e := f.Tag.Get("enum"); e != "" {
				s["enum"] = strings.Split(e, ",")
			}
			props[name] = s
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, name)
			}
		}
	}
	walk(t)
	slices.Sort(required)
	out := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}
