package saml

import (
	"time"

	"github.com/beevik/etree"
)

// newLogoutRequest builds an unsigned samlp:LogoutRequest (signed by send for its binding).
func newLogoutRequest(idp IdPConfig, id, destination, nameID, nameIDFormat string, sessionIndex []string, now time.Time, life time.Duration) *etree.Element {
	r := etree.NewElement("samlp:LogoutRequest")
	r.CreateAttr("xmlns:samlp", NSProtocol)
	r.CreateAttr("xmlns:saml", NSAssertion)
	r.CreateAttr("ID", id)
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", now.UTC().Format(timeFormat))
	r.CreateAttr("Destination", destination)
	r.CreateAttr("NotOnOrAfter", now.Add(life).UTC().Format(timeFormat))
	r.CreateElement("saml:Issuer").SetText(idp.EntityID)
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
	r := etree.NewElement("samlp:LogoutResponse")
	r.CreateAttr("xmlns:samlp", NSProtocol)
	r.CreateAttr("xmlns:saml", NSAssertion)
	r.CreateAttr("ID", newID())
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", now.UTC().Format(timeFormat))
	r.CreateAttr("Destination", destination)
	if inResponseTo != "" {
		r.CreateAttr("InResponseTo", inResponseTo)
	}
	r.CreateElement("saml:Issuer").SetText(idp.EntityID)
	code := r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	if status == StatusPartialLogout {
		// PartialLogout is a second-level code under Success (SAML core 3.7.3.2).
		code.CreateAttr("Value", StatusSuccess)
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", StatusPartialLogout)
	} else {
		code.CreateAttr("Value", status)
	}
	return r
}

// newStatusResponse builds an unsigned samlp:Response without assertion (e.g. NoPassive).
func newStatusResponse(idp IdPConfig, destination, inResponseTo, top, second string, now time.Time) *etree.Element {
	r := etree.NewElement("samlp:Response")
	r.CreateAttr("xmlns:samlp", NSProtocol)
	r.CreateAttr("xmlns:saml", NSAssertion)
	r.CreateAttr("ID", newID())
	r.CreateAttr("Version", "2.0")
	r.CreateAttr("IssueInstant", now.UTC().Format(timeFormat))
	r.CreateAttr("Destination", destination)
	if inResponseTo != "" {
		r.CreateAttr("InResponseTo", inResponseTo)
	}
	r.CreateElement("saml:Issuer").SetText(idp.EntityID)
	code := r.CreateElement("samlp:Status").CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", top)
	if second != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", second)
	}
	return r
}
