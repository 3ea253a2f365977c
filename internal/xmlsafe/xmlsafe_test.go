package xmlsafe

import (
	"errors"
	"strings"
	"testing"

	"github.com/beevik/etree"
)

func nested(depth int) string {
	return strings.Repeat("<a>", depth) + "x" + strings.Repeat("</a>", depth)
}

func TestParse(t *testing.T) {
	const limit = 4096
	tests := []struct {
		name string
		doc  string
		want string // root tag when accepted; "" = refused
		err  error  // when refused: errors.Is target, or nil to check errHas
		has  string // when refused: a part of the message
	}{
		{name: "good document", doc: `<?xml version="1.0" encoding="UTF-8"?>` + "\n" + `<r xmlns="urn:x"><a b="c">text &amp; more</a><!-- note --></r>` + "\n", want: "r"},
		{name: "good without declaration", doc: `<s:Envelope xmlns:s="urn:s"><s:Body/></s:Envelope>`, want: "Envelope"},
		{name: "nesting at the limit", doc: nested(MaxDepth), want: "a"},
		{name: "deep nesting", doc: nested(MaxDepth + 1), err: etree.ErrMaxDepth, has: "malformed XML"},
		{name: "very deep nesting", doc: strings.Repeat("<a>", 500) + strings.Repeat("</a>", 500), err: etree.ErrMaxDepth},
		{name: "DTD", doc: `<!DOCTYPE r [<!ELEMENT r ANY>]><r/>`, err: ErrDTD},
		{name: "DTD lower case", doc: `<!doctype r><r/>`, err: ErrDTD},
		{name: "entity expansion", doc: `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><r>&b;</r>`, err: ErrDTD},
		{name: "external entity", doc: `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`, err: ErrDTD},
		{name: "entity without a DOCTYPE", doc: `<r><!ENTITY x "y"></r>`, err: ErrDTD},
		{name: "nested directive", doc: `<r><a><!NOTATION n SYSTEM "x"></a></r>`, err: ErrDTD},
		{name: "directive after the root", doc: `<r/><!ELEMENT r ANY>`, err: ErrDTD},
		{name: "undeclared entity", doc: `<r>&lol;</r>`, has: "malformed XML"},
		{name: "processing instruction", doc: `<?xml-stylesheet href="x"?><r/>`, has: `processing instruction "xml-stylesheet"`},
		{name: "nested processing instruction", doc: `<r><?php echo 1; ?></r>`, has: `processing instruction "php"`},
		{name: "oversize", doc: `<r>` + strings.Repeat("x", limit) + `</r>`, has: "limit 4096"},
		{name: "two roots", doc: `<r/><r/>`, has: "more than one root"},
		{name: "no root", doc: `<?xml version="1.0"?><!-- nothing -->`, has: "no root element"},
		{name: "empty", doc: ``, has: "no root element"},
		{name: "text outside the root", doc: `junk<r/>`, has: "text outside the root"},
		{name: "unclosed", doc: `<r><a></r>`, has: "malformed XML"},
		{name: "truncated", doc: `<samlp:AuthnRequest`, has: "malformed XML"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse([]byte(tt.doc), limit)
			if tt.want != "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if doc.Root() == nil || doc.Root().Tag != tt.want {
					t.Fatalf("root %v, want %s", doc.Root(), tt.want)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("err = %v, want %v", err, tt.err)
			}
			if !strings.Contains(err.Error(), tt.has) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q, want one line containing %q", err, tt.has)
			}
		})
	}
}

// FuzzParse: any input is refused with an error or gives one root element with no directive
// or foreign processing instruction anywhere, no deeper than MaxDepth.
func FuzzParse(f *testing.F) {
	f.Add([]byte(`<?xml version="1.0"?><r xmlns="urn:x"><a b="c">t&amp;t</a></r>`))
	f.Add([]byte(`<!DOCTYPE r [<!ENTITY a "b">]><r>&a;</r>`))
	f.Add([]byte(`<r><![CDATA[<!DOCTYPE]]><!NOTATION n SYSTEM "x"></r>`))
	f.Add([]byte(`<r><?pi x?></r>`))
	f.Add([]byte(nested(MaxDepth + 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, 1<<16)
		if err != nil {
			if err.Error() == "" || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q", err)
			}
			return
		}
		roots := 0
		for _, tok := range doc.Child {
			switch c := tok.(type) {
			case *etree.Element:
				roots++
			case *etree.Directive:
				t.Fatal("directive accepted")
			case *etree.ProcInst:
				if c.Target != "xml" {
					t.Fatalf("processing instruction %q accepted", c.Target)
				}
			}
		}
		if roots != 1 || doc.Root() == nil {
			t.Fatalf("%d roots", roots)
		}
		var walk func(el *etree.Element, depth int)
		walk = func(el *etree.Element, depth int) {
			if depth > MaxDepth {
				t.Fatalf("depth %d accepted", depth)
			}
			for _, tok := range el.Child {
				switch c := tok.(type) {
				case *etree.Element:
					walk(c, depth+1)
				case *etree.Directive:
					t.Fatal("nested directive accepted")
				case *etree.ProcInst:
					t.Fatalf("nested processing instruction %q accepted", c.Target)
				}
			}
		}
		walk(doc.Root(), 1)
	})
}
