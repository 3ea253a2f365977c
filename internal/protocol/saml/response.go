package saml

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
)

// timeFormat is xs:dateTime in UTC with millisecond precision, as SAML peers expect.
const timeFormat = "2006-01-02T15:04:05.000Z"

// newID returns a fresh xs:ID (must not start with a digit).
func newID() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return "_" + hex.EncodeToString(b[:])
}

// ResponseParams is one assertion to issue.
type ResponseParams struct {
	SP           ServiceProvider
	ACS          string // the registered ACS URL the response is POSTed to
	InResponseTo string // empty for IdP-initiated
	User         store.User
	SessionIndex string
	AuthnInstant time.Time
	MFA          bool
	Now          time.Time
	Skew         time.Duration // NotBefore = Now - Skew (default 1 minute)
	Lifetime     time.Duration // NotOnOrAfter = Now + Lifetime (default 5 minutes)
	AssertionID  string        // the assertion's ID (signin.AssertionID of the record); "" = random
}

// BuildResponse returns the serialized samlp:Response carrying one assertion, signed as the SP
// asks (assertion, response or both) with RSA-SHA256 and exclusive c14n.
func BuildResponse(idp IdPConfig, key SigningKey, p ResponseParams) ([]byte, error) {
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

	r := newProtocolMessage("Response", idp, newID(), p.ACS, p.InResponseTo, now)
	addStatus(r, StatusSuccess, "")
	r.AddChild(a)
	if sp.SignResponse {
		if r, err = signEnveloped(r, key, 1); err != nil {
			return nil, fmt.Errorf("saml response: %w", err)
		}
	}
	return serialize(r)
}

// ReasonNoNameIDValue: the SP's NameID format needs a value the user lacks (the gate's
// eligibility reason, so the record says why instead of "allow" followed by an error).
const ReasonNoNameIDValue signin.Reason = "no_nameid_value"

// HasNameID reports whether u has the value sp's NameID is made of, so the gate can refuse a
// sign-in the response could not be built for (and record it as a refusal, not an allow).
func HasNameID(sp ServiceProvider, u store.User) bool {
	sp.normalize()
	_, err := nameIDValue(sp, u)
	return err == nil
}

// nameIDValue computes the Subject NameID for sp.
func nameIDValue(sp ServiceProvider, u store.User) (string, error) {
	var v string
	switch sp.NameIDSource {
	case SourceTransient:
		return newID(), nil
	case SourceImmutableID:
		v = u.ImmutableID
	case SourceEmail:
		v = u.Email
	case SourceUPN:
		v = u.UPN
	}
	if v == "" {
		return "", fmt.Errorf("saml response: user %s has no %s for the NameID of %s", u.UPN, sp.NameIDSource, sp.EntityID)
	}
	return v, nil
}

func attributeValues(source string, u store.User) []string {
	var v string
	switch source {
	case SourceUPN:
		v = u.UPN
	case SourceEmail:
		v = u.Email
	case SourceDisplayName:
		v = u.DisplayName
	case SourceImmutableID:
		v = u.ImmutableID
	case SourceGroups:
		return u.Groups
	}
	if v == "" {
		return nil
	}
	return []string{v}
}

// b64 is the standard base64 used by both bindings.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
