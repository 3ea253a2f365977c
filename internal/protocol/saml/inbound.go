package saml

import (
	"bytes"
	"compress/flate"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// message is a protocol message as received, parsed once, not yet trusted.
type message struct {
	Binding    string
	Root       *etree.Element
	RelayState string
	// HTTP-Redirect signature: the algorithm, the signature and the exact octets it covers.
	SigAlg    string
	Signature []byte
	Signed    []byte
}

// decodeRedirect decodes an HTTP-Redirect message from the raw query string. param is
// SAMLRequest or SAMLResponse. The signed octets are rebuilt from the parameters exactly as
// received (never re-encoded), as the binding specification requires.
func decodeRedirect(rawQuery, param string) (*message, error) {
	if len(rawQuery) > 64<<10 {
		return nil, errors.New("query string too long")
	}
	raw := map[string]string{}
	for _, part := range strings.Split(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("bad query parameter name: %w", err)
		}
		switch key {
		case param, "RelayState", "SigAlg", "Signature":
			if _, dup := raw[key]; dup {
				return nil, fmt.Errorf("parameter %s appears more than once", key)
			}
			raw[key] = v
		}
	}
	rawMsg, ok := raw[param]
	if !ok {
		return nil, fmt.Errorf("missing %s parameter", param)
	}
	m := &message{Binding: BindingRedirect}
	val := func(k string) (string, error) {
		s, err := url.QueryUnescape(raw[k])
		if err != nil {
			return "", fmt.Errorf("bad %s encoding: %w", k, err)
		}
		return s, nil
	}
	enc, err := val(param)
	if err != nil {
		return nil, err
	}
	if m.RelayState, err = val("RelayState"); err != nil {
		return nil, err
	}
	if len(m.RelayState) > maxRelayState {
		return nil, errors.New("RelayState too long")
	}
	if m.SigAlg, err = val("SigAlg"); err != nil {
		return nil, err
	}
	sig, err := val("Signature")
	if err != nil {
		return nil, err
	}
	_, hasSig := raw["Signature"]
	if hasSig {
		if m.Signature, err = base64.StdEncoding.DecodeString(stripSpace(sig)); err != nil {
			return nil, fmt.Errorf("bad Signature encoding: %w", err)
		}
		if _, ok := raw["SigAlg"]; !ok {
			return nil, errors.New("signature without SigAlg")
		}
		signed := param + "=" + rawMsg
		if rs, ok := raw["RelayState"]; ok {
			signed += "&RelayState=" + rs
		}
		signed += "&SigAlg=" + raw["SigAlg"]
		m.Signed = []byte(signed)
	}
	compressed, err := base64.StdEncoding.DecodeString(stripSpace(enc))
	if err != nil {
		return nil, fmt.Errorf("bad base64 in %s: %w", param, err)
	}
	xmlBytes, err := inflate(compressed)
	if err != nil {
		return nil, err
	}
	if m.Root, err = parseXML(xmlBytes, maxMessageXML); err != nil {
		return nil, err
	}
	return m, nil
}

// inflaters reuses decompressors: each holds a 32 KiB window that would otherwise be
// allocated and cleared per request.
var inflaters = sync.Pool{New: func() any { return flate.NewReader(bytes.NewReader(nil)) }}

// inflate undoes raw DEFLATE with an absolute and a ratio limit (deflate bombs).
func inflate(compressed []byte) ([]byte, error) {
	limit := len(compressed) * inflateRatio
	if limit > maxMessageXML {
		limit = maxMessageXML
	}
	fr := inflaters.Get().(io.ReadCloser)
	defer inflaters.Put(fr)
	if err := fr.(flate.Resetter).Reset(bytes.NewReader(compressed), nil); err != nil {
		return nil, fmt.Errorf("bad DEFLATE data: %w", err)
	}
	out, err := io.ReadAll(io.LimitReader(fr, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("bad DEFLATE data: %w", err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("inflated message exceeds %d bytes (limit or %dx ratio)", limit, inflateRatio)
	}
	return out, nil
}

// decodePOST decodes an HTTP-POST message from the form value (base64, no compression).
func decodePOST(value, relayState string) (*message, error) {
	if len(value) > maxMessageXML*4/3+1024 {
		return nil, errors.New("message too large")
	}
	if len(relayState) > maxRelayState {
		return nil, errors.New("RelayState too long")
	}
	xmlBytes, err := base64.StdEncoding.DecodeString(stripSpace(value))
	if err != nil {
		return nil, fmt.Errorf("bad base64: %w", err)
	}
	root, err := parseXML(xmlBytes, maxMessageXML)
	if err != nil {
		return nil, err
	}
	return &message{Binding: BindingPOST, Root: root, RelayState: relayState}, nil
}

// unverifiedIssuer reads the Issuer only to find which SP's keys verify the message; the
// value is read again from the verified element before any decision.
func unverifiedIssuer(root *etree.Element) (string, error) {
	iss, err := atMostOne(root, NSAssertion, "Issuer")
	if err != nil {
		return "", err
	}
	if iss == nil {
		return "", errors.New("message has no Issuer")
	}
	return textOf(iss)
}

// verify checks the message's signature against the SP's certificates and returns the element
// to read from: for HTTP-POST the one goxmldsig returns, never the raw tree.
func (m *message) verify(sp ServiceProvider, now time.Time) (*etree.Element, bool, error) {
	certs, err := sp.certificates()
	if err != nil {
		return nil, false, err
	}
	switch m.Binding {
	case BindingRedirect:
		if m.Signature == nil {
			if sp.WantAuthnRequestsSigned {
				return nil, false, errors.New("signature required by the SP configuration but missing")
			}
			return m.Root, false, nil
		}
		if m.SigAlg != SigAlgRSASHA256 {
			return nil, false, fmt.Errorf("signature algorithm %q not accepted (RSA-SHA256 only)", m.SigAlg)
		}
		if len(certs) == 0 {
			return nil, false, errors.New("message is signed but the SP has no certificate to verify it")
		}
		for _, c := range certs {
			if c.CheckSignature(x509.SHA256WithRSA, m.Signed, m.Signature) == nil {
				return m.Root, true, nil
			}
		}
		return nil, false, errors.New("query signature does not verify with the SP's certificates")
	case BindingPOST:
		sigs := children(m.Root, NSDSig, "Signature")
		if len(sigs) == 0 {
			if sp.WantAuthnRequestsSigned {
				return nil, false, errors.New("signature required by the SP configuration but missing")
			}
			if countDescendants(m.Root, NSDSig, "Signature") > 0 {
				return nil, false, errors.New("signature present but not on the message element")
			}
			return m.Root, false, nil
		}
		if len(certs) == 0 {
			return nil, false, errors.New("message is signed but the SP has no certificate to verify it")
		}
		vc := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
		vc.Clock = dsig.NewFakeClockAt(now)
		el, err := vc.Validate(m.Root)
		if err != nil {
			return nil, false, fmt.Errorf("XML signature does not verify: %w", err)
		}
		return el, true, nil
	}
	return nil, false, fmt.Errorf("unknown binding %q", m.Binding)
}

// header is what every SAML protocol message carries.
type header struct {
	ID           string
	Issuer       string
	Destination  string
	IssueInstant time.Time
}

// forbidden local names inside a message: a second request, or a smuggled response.
var nestedMessages = []string{"AuthnRequest", "LogoutRequest", "LogoutResponse", "Response", "Assertion"}

func parseHeader(root *etree.Element, local string) (header, error) {
	if !is(root, NSProtocol, local) {
		return header{}, fmt.Errorf("expected samlp:%s, got {%s}%s", local, root.NamespaceURI(), root.Tag)
	}
	for _, n := range nestedMessages {
		if countAnyNS(root, n) > 0 {
			return header{}, fmt.Errorf("message contains a nested %s element", n)
		}
	}
	var h header
	if v := root.SelectAttrValue("Version", ""); v != "2.0" {
		return h, fmt.Errorf("unsupported SAML version %q", v)
	}
	h.ID = root.SelectAttrValue("ID", "")
	if err := checkID(h.ID); err != nil {
		return h, err
	}
	t, err := parseTime(root.SelectAttrValue("IssueInstant", ""))
	if err != nil {
		return h, fmt.Errorf("IssueInstant: %w", err)
	}
	h.IssueInstant = t
	h.Destination = root.SelectAttrValue("Destination", "")
	if h.Issuer, err = unverifiedIssuer(root); err != nil {
		return h, err
	}
	if h.Issuer == "" {
		return h, errors.New("empty Issuer")
	}
	return h, nil
}

func countAnyNS(el *etree.Element, local string) int {
	n := 0
	for _, c := range el.ChildElements() {
		if c.Tag == local {
			n++
		}
		n += countAnyNS(c, local)
	}
	return n
}

func checkID(id string) error {
	if id == "" || len(id) > maxIDLen {
		return errors.New("message ID missing or too long")
	}
	for _, r := range id {
		if r <= ' ' || r == '<' || r == '>' || r == '"' || r == '&' || r == '\'' {
			return errors.New("message ID contains forbidden characters")
		}
	}
	return nil
}

// parseTime parses an xs:dateTime that must carry a time zone (SAML requires UTC).
func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("missing")
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return t, nil
}

// AuthnRequest is a verified authentication request.
type AuthnRequest struct {
	header
	ACSURL          string
	ACSIndex        int // -1 when absent
	ProtocolBinding string
	ForceAuthn      bool
	IsPassive       bool
	NameIDFormat    string // NameIDPolicy/@Format
	LoginHint       string // Subject/NameID
	Signed          bool
}

func parseAuthnRequest(root *etree.Element) (*AuthnRequest, error) {
	h, err := parseHeader(root, "AuthnRequest")
	if err != nil {
		return nil, err
	}
	req := &AuthnRequest{header: h, ACSIndex: -1}
	req.ACSURL = root.SelectAttrValue("AssertionConsumerServiceURL", "")
	if s := root.SelectAttrValue("AssertionConsumerServiceIndex", ""); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("bad AssertionConsumerServiceIndex %q", s)
		}
		req.ACSIndex = n
	}
	if req.ACSURL != "" && req.ACSIndex >= 0 {
		return nil, errors.New("AssertionConsumerServiceURL and Index are mutually exclusive")
	}
	req.ProtocolBinding = root.SelectAttrValue("ProtocolBinding", "")
	if req.ForceAuthn, err = parseBool(root.SelectAttrValue("ForceAuthn", "false")); err != nil {
		return nil, fmt.Errorf("ForceAuthn: %w", err)
	}
	if req.IsPassive, err = parseBool(root.SelectAttrValue("IsPassive", "false")); err != nil {
		return nil, fmt.Errorf("IsPassive: %w", err)
	}
	pol, err := atMostOne(root, NSProtocol, "NameIDPolicy")
	if err != nil {
		return nil, err
	}
	if pol != nil {
		req.NameIDFormat = pol.SelectAttrValue("Format", "")
	}
	subj, err := atMostOne(root, NSAssertion, "Subject")
	if err != nil {
		return nil, err
	}
	if subj != nil {
		if nid, err := atMostOne(subj, NSAssertion, "NameID"); err != nil {
			return nil, err
		} else if nid != nil {
			if req.LoginHint, err = textOf(nid); err != nil {
				return nil, err
			}
		}
	}
	return req, nil
}

func parseBool(s string) (bool, error) {
	switch strings.TrimSpace(s) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("bad boolean %q", s)
}

// LogoutRequest is a verified logout request.
type LogoutRequest struct {
	header
	NotOnOrAfter time.Time
	NameID       string
	NameIDFormat string
	SessionIndex []string
	Signed       bool
}

func parseLogoutRequest(root *etree.Element) (*LogoutRequest, error) {
	h, err := parseHeader(root, "LogoutRequest")
	if err != nil {
		return nil, err
	}
	req := &LogoutRequest{header: h}
	if s := root.SelectAttrValue("NotOnOrAfter", ""); s != "" {
		if req.NotOnOrAfter, err = parseTime(s); err != nil {
			return nil, fmt.Errorf("NotOnOrAfter: %w", err)
		}
	}
	nids := children(root, NSAssertion, "NameID")
	if len(nids) != 1 {
		return nil, fmt.Errorf("LogoutRequest needs exactly one saml:NameID, has %d", len(nids))
	}
	if req.NameID, err = textOf(nids[0]); err != nil {
		return nil, err
	}
	req.NameIDFormat = nids[0].SelectAttrValue("Format", "")
	for _, si := range children(root, NSProtocol, "SessionIndex") {
		v, err := textOf(si)
		if err != nil {
			return nil, err
		}
		req.SessionIndex = append(req.SessionIndex, v)
	}
	return req, nil
}

// LogoutResponse is a verified logout response.
type LogoutResponse struct {
	header
	InResponseTo string
	Status       string
	Signed       bool
}

func parseLogoutResponse(root *etree.Element) (*LogoutResponse, error) {
	h, err := parseHeader(root, "LogoutResponse")
	if err != nil {
		return nil, err
	}
	resp := &LogoutResponse{header: h, InResponseTo: root.SelectAttrValue("InResponseTo", "")}
	st, err := atMostOne(root, NSProtocol, "Status")
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("LogoutResponse has no Status")
	}
	code, err := atMostOne(st, NSProtocol, "StatusCode")
	if err != nil || code == nil {
		return nil, errors.New("LogoutResponse has no single StatusCode")
	}
	resp.Status = code.SelectAttrValue("Value", "")
	return resp, nil
}

// signRedirect builds the HTTP-Redirect query for an outbound message, signed over the exact
// octets "param=…&RelayState=…&SigAlg=…".
func signRedirect(xmlBytes []byte, param, relayState string, key SigningKey) (string, error) {
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.DefaultCompression)
	if err != nil {
		return "", fmt.Errorf("deflate: %w", err)
	}
	if _, err := fw.Write(xmlBytes); err != nil {
		return "", fmt.Errorf("deflate: %w", err)
	}
	if err := fw.Close(); err != nil {
		return "", fmt.Errorf("deflate: %w", err)
	}
	q := param + "=" + url.QueryEscape(b64(buf.Bytes()))
	if relayState != "" {
		q += "&RelayState=" + url.QueryEscape(relayState)
	}
	q += "&SigAlg=" + url.QueryEscape(SigAlgRSASHA256)
	h := sha256.Sum256([]byte(q))
	sig, err := key.Signer.Sign(rand.Reader, h[:], crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("sign redirect query: %w", err)
	}
	return q + "&Signature=" + url.QueryEscape(b64(sig)), nil
}
