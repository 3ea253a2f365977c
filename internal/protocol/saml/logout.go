package saml

import (
	"time"

	"github.com/beevik/etree"
)

// newProtocolMessage starts a protocol message the IdP sends (samlp:Response, LogoutRequest,
// LogoutResponse) with the header they share: namespaces, ID, version, instant, destination,
// InResponseTo when answering, and the Issuer.
func newProtocolMessage(kind string, idp IdPConfig, id, destination, inResponseTo string, now time.Time) *etree.Element {
	r := etree.NewElement("samlp:" + kind)
	r.CreateAttr("xmlns:samlp", NSProtocol)
	r.CreateAttr("xmlns:saml", NSAssertion)
	r.CreateAttr("ID", id)
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", now.UTC().Format(timeFormat))
	r.CreateAttr("Destination", destination)
	if inResponseTo != "" {
		r.CreateAttr("InResponseTo", inResponseTo)
	}
	r.CreateElement("saml:Issuer").SetText(idp.EntityID)
	return r
}

// addStatus appends samlp:Status with a top-level code and, if given, a second-level one.
func addStatus(r *etree.Element, top, second string) {
	code := r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", top)
	if second != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", second)
	}
}

// newLogoutRequest builds an unsigned samlp:LogoutRequest (signed by send for its binding).
func newLogoutRequest(idp IdPConfig, id, destination, nameID, nameIDFormat string, sessionIndex []string, now time.Time, life time.Duration) *etree.Element {
	r := newProtocolMessage("LogoutRequest", idp, id, destination, "", now)
	r.CreateAttr("NotOnOrAfter", now.Add(life).UTC().Format(timeFormat))
	nid := r.CreateElement("saml:NameID")
	if nameIDFormat != "" {
		nid.CreateAttr("Format", nameIDFormat)
	}
	nid.SetText(nameID)
	for _, si := range sessionIndex {
		r.CreateElement("samlp:SessionIndex").SetText(si)
	}
	return r
}

// newLogoutResponse builds an unsigned samlp:LogoutResponse.
func newLogoutResponse(idp IdPConfig, destination, inResponseTo, status string, now time.Time) *etree.Element {
	r := newProtocolMessage("LogoutResponse", idp, newID(), destination, inResponseTo, now)
	if status == StatusPartialLogout {
		// PartialLogout is a second-level code under Success (SAML core 3.7.3.2).
		addStatus(r, StatusSuccess, StatusPartialLogout)
	} else {
		addStatus(r, status, "")
	}
	return r
}

// newStatusResponse builds an unsigned samlp:Response without assertion (e.g. NoPassive).
func newStatusResponse(idp IdPConfig, destination, inResponseTo, top, second string, now time.Time) *etree.Element {
	r := newProtocolMessage("Response", idp, newID(), destination, inResponseTo, now)
	addStatus(r, top, second)
	return r
}
