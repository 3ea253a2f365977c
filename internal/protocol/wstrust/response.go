package wstrust

import (
	"net/http"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/saml11token"
)

// Fault subcodes. Callers learn only the category; the sign-in record has the cause.
const (
	FailedAuthentication = "FailedAuthentication"
	InvalidRequest       = "InvalidRequest"
	RequestFailed        = "RequestFailed"
)

// Fault texts: fixed per subcode so nothing about the cause leaks (ADFS's own wording).
var faultText = map[string]string{
	FailedAuthentication: "ID3242: The security token could not be authenticated or authorized.",
	InvalidRequest:       "ID3035: The request was not valid or is malformed.",
	RequestFailed:        "ID3037: The specified request failed.",
}

const soapContentType = "application/soap+xml; charset=utf-8"

func newEnvelope(action, relatesTo string) (*etree.Document, *etree.Element, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", nsSOAP12)
	env.CreateAttr("xmlns:a", nsWSA)
	env.CreateAttr("xmlns:u", nsWSU)
	h := env.CreateElement("s:Header")
	a := h.CreateElement("a:Action")
	a.CreateAttr("s:mustUnderstand", "1")
	a.SetText(action)
	if relatesTo != "" {
		h.CreateElement("a:RelatesTo").SetText(relatesTo)
	}
	return doc, h, env.CreateElement("s:Body")
}

// writeFault answers with a SOAP 1.2 fault. Status 500 as ADFS does; the clients
// (Exchange Online, MSAL, ADAL) read the fault, not the status.
func writeFault(w http.ResponseWriter, v Version, subcode, relatesTo string) {
	if v == 0 {
		v = Trust13
	}
	doc, _, body := newEnvelope(nsWSA+"/soap/fault", relatesTo)
	f := body.CreateElement("s:Fault")
	code := f.CreateElement("s:Code")
	val := "s:Sender"
	if subcode == RequestFailed {
		val = "s:Receiver"
	}
	code.CreateElement("s:Value").SetText(val)
	sv := code.CreateElement("s:Subcode").CreateElement("s:Value")
	sv.CreateAttr("xmlns:wst", trustNS[v])
	sv.SetText("wst:" + subcode)
	txt := f.CreateElement("s:Reason").CreateElement("s:Text")
	txt.CreateAttr("xml:lang", "en-US")
	txt.SetText(faultText[subcode])
	w.Header().Set("Content-Type", soapContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = doc.WriteTo(w)
}

// responseDoc builds the RSTR (2005) or RSTRC (1.3) around a signed assertion.
func responseDoc(v Version, req Request, assertion *etree.Element, created, expires time.Time) *etree.Document {
	doc, h, body := newEnvelope(responseAction[v], req.MessageID)
	sec := h.CreateElement("o:Security")
	sec.CreateAttr("s:mustUnderstand", "1")
	sec.CreateAttr("xmlns:o", nsWSSE)
	ts := sec.CreateElement("u:Timestamp")
	ts.CreateAttr("u:Id", "_0")
	ts.CreateElement("u:Created").SetText(created.UTC().Format(saml11token.TimeFormat))
	ts.CreateElement("u:Expires").SetText(created.UTC().Add(5 * time.Minute).Format(saml11token.TimeFormat))

	var rstr *etree.Element
	if v == Trust13 {
		coll := body.CreateElement("trust:RequestSecurityTokenResponseCollection")
		coll.CreateAttr("xmlns:trust", NSTrust13)
		rstr = coll.CreateElement("trust:RequestSecurityTokenResponse")
	} else {
		rstr = body.CreateElement("t:RequestSecurityTokenResponse")
		rstr.CreateAttr("xmlns:t", NSTrust2005)
	}
	p := rstr.Space
	life := rstr.CreateElement(p + ":Lifetime")
	life.CreateElement("u:Created").SetText(created.UTC().Format(saml11token.TimeFormat))
	life.CreateElement("u:Expires").SetText(expires.UTC().Format(saml11token.TimeFormat))
	appliesTo(rstr, req.AppliesTo)
	// The assertion goes in as the only child, with no surrounding whitespace: MSAL forwards
	// the inner XML of RequestedSecurityToken byte for byte.
	rstr.CreateElement(p + ":RequestedSecurityToken").AddChild(assertion)
	rstr.CreateElement(p + ":TokenType").SetText(saml11token.TokenType)
	rstr.CreateElement(p + ":RequestType").SetText(requestType[v])
	rstr.CreateElement(p + ":KeyType").SetText(bearerKeyType[v])
	return doc
}

func appliesTo(parent *etree.Element, address string) {
	at := parent.CreateElement("wsp:AppliesTo")
	at.CreateAttr("xmlns:wsp", nsWSP)
	epr := at.CreateElement("wsa:EndpointReference")
	epr.CreateAttr("xmlns:wsa", nsWSA)
	epr.CreateElement("wsa:Address").SetText(address)
}
