package saml

import (
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"
)

// etreeResponse is the construction BuildResponse used before the templates of emit.go: the
// element tree signed by goxmldsig. It stays here, in a test file, as the oracle the templates
// are proven against. The response's ID is respID; transient is the NameID value when the
// SP's NameID is transient (random otherwise, so both sides must be given the same one).
// It returns the signed tree itself: goxmldsig has canonicalised the signed elements in place.
func etreeResponse(idp IdPConfig, key SigningKey, p ResponseParams, respID, transient string) (*etree.Element, error) {
	sp := p.SP
	sp.normalize()
	if p.ACS == "" {
		return nil, errors.New("saml response: no ACS URL")
	}
	skew, life := p.Skew, p.Lifetime
	if skew <= 0 {
		skew = time.Minute
	}
	if life <= 0 {
		life = 5 * time.Minute
	}
	now := p.Now.UTC()
	issue := now.Format(timeFormat)
	notOnOrAfter := now.Add(life).Format(timeFormat)

	nameID, err := nameIDValue(sp, p.User)
	if err != nil {
		return nil, err
	}
	if sp.NameIDSource == SourceTransient {
		nameID = transient
	}
	authnInstant := p.AuthnInstant
	if authnInstant.IsZero() {
		authnInstant = now
	}

	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("xmlns:saml", NSAssertion)
	aid := p.AssertionID
	if aid == "" {
		aid = newID()
	}
	a.CreateAttr("ID", aid)
	a.CreateAttr("IssueInstant", issue)
	a.CreateAttr("Version", "2.0")
	a.CreateElement("saml:Issuer").SetText(idp.EntityID)
	subj := a.CreateElement("saml:Subject")
	nid := subj.CreateElement("saml:NameID")
	nid.CreateAttr("Format", sp.NameIDFormat)
	nid.SetText(nameID)
	sc := subj.CreateElement("saml:SubjectConfirmation")
	sc.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	scd := sc.CreateElement("saml:SubjectConfirmationData")
	if p.InResponseTo != "" {
		scd.CreateAttr("InResponseTo", p.InResponseTo)
	}
	scd.CreateAttr("NotOnOrAfter", notOnOrAfter)
	scd.CreateAttr("Recipient", p.ACS)
	cond := a.CreateElement("saml:Conditions")
	cond.CreateAttr("NotBefore", now.Add(-skew).Format(timeFormat))
	cond.CreateAttr("NotOnOrAfter", notOnOrAfter)
	cond.CreateElement("saml:AudienceRestriction").CreateElement("saml:Audience").SetText(sp.EntityID)
	as := a.CreateElement("saml:AuthnStatement")
	as.CreateAttr("AuthnInstant", authnInstant.UTC().Format(timeFormat))
	if p.SessionIndex != "" {
		as.CreateAttr("SessionIndex", p.SessionIndex)
	}
	class := ClassPassword
	if p.MFA {
		class = sp.MFAClassRef
	}
	as.CreateElement("saml:AuthnContext").CreateElement("saml:AuthnContextClassRef").SetText(class)
	if len(sp.Attributes) > 0 {
		st := a.CreateElement("saml:AttributeStatement")
		for _, m := range sp.Attributes {
			vals := attributeValues(m.Source, p.User)
			if len(vals) == 0 {
				continue // SAML forbids empty attributes; an unset field is simply absent
			}
			at := st.CreateElement("saml:Attribute")
			at.CreateAttr("Name", m.Name)
			nf := m.NameFormat
			if nf == "" {
				nf = AttrNameFormatUnspecified
			}
			at.CreateAttr("NameFormat", nf)
			if m.FriendlyName != "" {
				at.CreateAttr("FriendlyName", m.FriendlyName)
			}
			for _, v := range vals {
				at.CreateElement("saml:AttributeValue").SetText(v)
			}
		}
		if len(st.ChildElements()) == 0 {
			a.RemoveChild(st)
		}
	}
	if sp.SignAssertion {
		if a, err = signEnveloped(a, key, 1); err != nil {
			return nil, fmt.Errorf("saml response: %w", err)
		}
	}

	r := newProtocolMessage("Response", idp, respID, p.ACS, p.InResponseTo, now)
	addStatus(r, StatusSuccess, "")
	r.AddChild(a)
	if sp.SignResponse {
		if r, err = signEnveloped(r, key, 1); err != nil {
			return nil, fmt.Errorf("saml response: %w", err)
		}
	}
	return r, nil
}
