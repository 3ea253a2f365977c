package wstrust

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/xmlsafe"
)

// Namespaces of the messages this package reads and writes.
const (
	nsSOAP12    = "http://www.w3.org/2003/05/soap-envelope"
	nsWSSE      = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsWSU       = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsWSA       = "http://www.w3.org/2005/08/addressing"
	nsWSA2004   = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
	nsWSP       = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsWSP15     = "http://www.w3.org/ns/ws-policy"
	NSTrust13   = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	NSTrust2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust"

	passwordText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// Version is the WS-Trust dialect of an endpoint or a request.
type Version int

const (
	Trust13 Version = iota + 1
	Trust2005
)

func (v Version) String() string {
	switch v {
	case Trust13:
		return "1.3"
	case Trust2005:
		return "2005"
	}
	return "unknown"
}

// Per-version constants (index by Version).
var (
	trustNS        = map[Version]string{Trust13: NSTrust13, Trust2005: NSTrust2005}
	issueAction    = map[Version]string{Trust13: NSTrust13 + "/RST/Issue", Trust2005: NSTrust2005 + "/RST/Issue"}
	responseAction = map[Version]string{Trust13: NSTrust13 + "/RSTRC/IssueFinal", Trust2005: NSTrust2005 + "/RSTR/Issue"}
	requestType    = map[Version]string{Trust13: NSTrust13 + "/Issue", Trust2005: NSTrust2005 + "/Issue"}
	bearerKeyType  = map[Version]string{Trust13: NSTrust13 + "/Bearer", Trust2005: "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey"}
)

// Request is a parsed RequestSecurityToken with its username token.
type Request struct {
	Version     Version // from the RST element's namespace
	Action      string  // wsa:Action header ("" when absent)
	MessageID   string  // wsa:MessageID (any case of the local name, as MSAL sends messageID)
	Username    string
	Password    string
	AppliesTo   string // wsp:AppliesTo/wsa:EndpointReference/wsa:Address
	KeyType     string
	RequestType string
	Created     time.Time // wsu:Timestamp; zero when the request carried none
	Expires     time.Time
}

// ErrInvalid marks a request that is not a well-formed username RST.
var ErrInvalid = errors.New("invalid WS-Trust request")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ParseRST reads one SOAP 1.2 envelope carrying a WS-Security UsernameToken and an RST, of at
// most DefaultMaxRequestBytes. Exactly one of each structural element is accepted. The XML is
// read by xmlsafe, as SAML's is: DTDs and other directives are refused outright (no entity can
// be declared, so no expansion bomb), and so is nesting deeper than xmlsafe.MaxDepth.
func ParseRST(body []byte) (Request, error) { return parseRST(body, DefaultMaxRequestBytes) }

// parseRST is ParseRST for a body of at most limit bytes (the handler's MaxRequestBytes).
func parseRST(body []byte, limit int) (Request, error) {
	doc, err := xmlsafe.Parse(body, limit)
	if err != nil {
		return Request{}, invalid("%v", err)
	}
	env := doc.Root()
	if !is(env, nsSOAP12, "Envelope") {
		return Request{}, invalid("root is not a SOAP 1.2 Envelope")
	}
	header, err := one(env, nsSOAP12, "Header")
	if err != nil {
		return Request{}, err
	}
	bodyEl, err := one(env, nsSOAP12, "Body")
	if err != nil {
		return Request{}, err
	}
	var req Request
	if a, err := optional(header, "Action", nsWSA, nsWSA2004); err != nil {
		return Request{}, err
	} else if a != nil {
		req.Action = strings.TrimSpace(a.Text())
	}
	for _, c := range header.ChildElements() {
		if strings.EqualFold(c.Tag, "MessageID") && (c.NamespaceURI() == nsWSA || c.NamespaceURI() == nsWSA2004) {
			req.MessageID = strings.TrimSpace(c.Text())
		}
	}
	sec, err := one(header, nsWSSE, "Security")
	if err != nil {
		return Request{}, err
	}
	if ts, err := optional(sec, "Timestamp", nsWSU); err != nil {
		return Request{}, err
	} else if ts != nil {
		if req.Created, err = timeOf(ts, "Created"); err != nil {
			return Request{}, err
		}
		if req.Expires, err = timeOf(ts, "Expires"); err != nil {
			return Request{}, err
		}
	}
	ut, err := one(sec, nsWSSE, "UsernameToken")
	if err != nil {
		return Request{}, err
	}
	user, err := one(ut, nsWSSE, "Username")
	if err != nil {
		return Request{}, err
	}
	pw, err := one(ut, nsWSSE, "Password")
	if err != nil {
		return Request{}, err
	}
	if t := pw.SelectAttrValue("Type", passwordText); t != passwordText {
		return Request{}, invalid("password type %q is not supported (PasswordText only)", t)
	}
	req.Username = strings.TrimSpace(user.Text())
	req.Password = pw.Text()
	if req.Username == "" {
		return Request{}, invalid("empty username")
	}

	elems := bodyEl.ChildElements()
	if len(elems) != 1 || elems[0].Tag != "RequestSecurityToken" {
		return Request{}, invalid("body must hold exactly one RequestSecurityToken")
	}
	rst := elems[0]
	switch rst.NamespaceURI() {
	case NSTrust13:
		req.Version = Trust13
	case NSTrust2005:
		req.Version = Trust2005
	default:
		return Request{}, invalid("unknown WS-Trust namespace %q", rst.NamespaceURI())
	}
	ns := trustNS[req.Version]
	if e, err := optional(rst, "KeyType", ns); err != nil {
		return Request{}, err
	} else if e != nil {
		req.KeyType = strings.TrimSpace(e.Text())
	}
	if e, err := optional(rst, "RequestType", ns); err != nil {
		return Request{}, err
	} else if e != nil {
		req.RequestType = strings.TrimSpace(e.Text())
	}
	at, err := optional(rst, "AppliesTo", nsWSP, nsWSP15)
	if err != nil {
		return Request{}, err
	}
	if at == nil {
		return Request{}, invalid("missing AppliesTo")
	}
	epr, err := optional(at, "EndpointReference", nsWSA, nsWSA2004)
	if err != nil {
		return Request{}, err
	}
	if epr == nil {
		return Request{}, invalid("AppliesTo has no EndpointReference")
	}
	addr, err := optional(epr, "Address", nsWSA, nsWSA2004)
	if err != nil {
		return Request{}, err
	}
	if addr == nil || strings.TrimSpace(addr.Text()) == "" {
		return Request{}, invalid("AppliesTo has no address")
	}
	req.AppliesTo = strings.TrimSpace(addr.Text())
	return req, nil
}

func is(e *etree.Element, ns, local string) bool { return e.Tag == local && e.NamespaceURI() == ns }

// one returns the single child ns:local of parent, or an error for none or several.
func one(parent *etree.Element, ns, local string) (*etree.Element, error) {
	e, err := optional(parent, local, ns)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, invalid("missing %s in %s", local, parent.Tag)
	}
	return e, nil
}

// optional returns the single child named local in one of the namespaces, nil when absent,
// and an error when it appears more than once.
func optional(parent *etree.Element, local string, nss ...string) (*etree.Element, error) {
	var found *etree.Element
	for _, c := range parent.ChildElements() {
		if c.Tag != local {
			continue
		}
		ns := c.NamespaceURI()
		for _, want := range nss {
			if ns == want {
				if found != nil {
					return nil, invalid("more than one %s in %s", local, parent.Tag)
				}
				found = c
			}
		}
	}
	return found, nil
}

func timeOf(ts *etree.Element, local string) (time.Time, error) {
	e, err := one(ts, nsWSU, local)
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(e.Text()))
	if err != nil {
		return time.Time{}, invalid("timestamp %s: %v", local, err)
	}
	return t, nil
}
