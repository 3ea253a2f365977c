package saml

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

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
// asks (assertion, response or both) with RSA-SHA256 and exclusive c14n. The document is
// written in exclusive canonical form from a template (emit.go), so what is digested is what
// is sent.
func BuildResponse(idp IdPConfig, key SigningKey, p ResponseParams) ([]byte, error) {
	e, err := responseData(idp, p, newID())
	if err != nil {
		return nil, err
	}
	if key.Signer == nil || len(key.Chain) == 0 {
		return nil, errors.New("saml response: no signing key")
	}
	if _, ok := key.Signer.Public().(*rsa.PublicKey); !ok {
		return nil, errors.New("saml response: the signing key must be RSA (RSA-SHA256)")
	}
	return emitResponse(key, e)
}

// responseData computes every value of the response to p, whose ID is respID.
func responseData(idp IdPConfig, p ResponseParams, respID string) (*emitted, error) {
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
	nameID, err := nameIDValue(sp, p.User)
	if err != nil {
		return nil, err
	}
	authnInstant := p.AuthnInstant
	if authnInstant.IsZero() {
		authnInstant = now
	}
	aid := p.AssertionID
	if aid == "" {
		aid = newID()
	}
	class := ClassPassword
	if p.MFA {
		class = sp.MFAClassRef
	}
	e := &emitted{
		respID: respID, assertionID: aid,
		issuer: idp.EntityID, destination: p.ACS, inResponse: p.InResponseTo,
		issue: now.Format(timeFormat), notBefore: now.Add(-skew).Format(timeFormat),
		notOnOrAfter: now.Add(life).Format(timeFormat),
		authnInstant: authnInstant.UTC().Format(timeFormat), sessionIndex: p.SessionIndex,
		nameIDFormat: sp.NameIDFormat, nameID: nameID, audience: sp.EntityID, classRef: class,
		attrs: sp.Attributes, values: make([][]string, len(sp.Attributes)),
		signAssertion: sp.SignAssertion, signResponse: sp.SignResponse,
	}
	for i, m := range sp.Attributes {
		// SAML forbids empty attributes; an unset field is simply absent.
		e.values[i] = attributeValues(m.Source, p.User)
	}
	return e, nil
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
