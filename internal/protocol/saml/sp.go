package saml

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"
)

// User fields a NameID or attribute can be taken from.
const (
	SourceUPN         = "upn"
	SourceEmail       = "email"
	SourceDisplayName = "displayName"
	SourceImmutableID = "immutableId"
	SourceGroups      = "groups"
	SourceTransient   = "transient" // NameID only: a random value per response
)

// Endpoint is an SP endpoint: an AssertionConsumerService or a SingleLogoutService.
type Endpoint struct {
	Binding  string `json:"binding"`
	Location string `json:"location"`
	// ResponseLocation, for SLO endpoints, is where LogoutResponses go (default Location).
	ResponseLocation string `json:"responseLocation,omitempty"`
	Index            int    `json:"index,omitempty"`
	IsDefault        bool   `json:"isDefault,omitempty"`
}

// AttributeMapping emits one SAML attribute from one user field.
type AttributeMapping struct {
	Name         string `json:"name"`
	NameFormat   string `json:"nameFormat,omitempty"` // default unspecified
	FriendlyName string `json:"friendlyName,omitempty"`
	Source       string `json:"source"` // upn, email, displayName, immutableId, groups
}

// ServiceProvider is a registered SAML 2.0 SP. It is stored as JSON in store.Application.Config.
type ServiceProvider struct {
	EntityID string     `json:"entityId"`
	ACS      []Endpoint `json:"acs"` // HTTP-POST only: the binding Sekisho answers with
	SLO      []Endpoint `json:"slo,omitempty"`

	NameIDFormat string             `json:"nameIdFormat"` // default persistent
	NameIDSource string             `json:"nameIdSource"` // default immutableId (transient for transient)
	Attributes   []AttributeMapping `json:"attributes,omitempty"`

	// WantAuthnRequestsSigned rejects unsigned AuthnRequests and LogoutRequests.
	WantAuthnRequestsSigned bool `json:"wantAuthnRequestsSigned,omitempty"`
	// Certificates verify the SP's request signatures: base64 DER (as in metadata).
	Certificates []string `json:"certificates,omitempty"`

	// At least one is signed; when both are false the assertion is signed.
	SignResponse  bool `json:"signResponse,omitempty"`
	SignAssertion bool `json:"signAssertion,omitempty"`

	// MFAClassRef is the AuthnContextClassRef after multi-factor sign-in (default
	// ClassMFARefeds; ClassMFAMicrosoft for the Microsoft 365 SP).
	MFAClassRef string `json:"mfaClassRef,omitempty"`
	// AllowIdPInitiated permits unsolicited responses via /saml/idp-initiated. Off by default:
	// unsolicited responses allow login CSRF against SPs that accept them.
	AllowIdPInitiated bool `json:"allowIdpInitiated,omitempty"`
}

// Microsoft365EntityID is Entra ID's SAML SP entity ID and the assertion audience.
const Microsoft365EntityID = "urn:federation:MicrosoftOnline"

// Microsoft365 returns the SP profile of Entra ID (M365.md §3): persistent NameID =
// ImmutableID, IDPEmail = UPN, signed assertion, MFA reported as multipleauthn.
func Microsoft365() ServiceProvider {
	return ServiceProvider{
		EntityID:      Microsoft365EntityID,
		ACS:           []Endpoint{{Binding: BindingPOST, Location: "https://login.microsoftonline.com/login.srf", Index: 0, IsDefault: true}},
		SLO:           []Endpoint{{Binding: BindingRedirect, Location: "https://login.microsoftonline.com/login.srf"}},
		NameIDFormat:  NameIDPersistent,
		NameIDSource:  SourceImmutableID,
		Attributes:    []AttributeMapping{{Name: "IDPEmail", Source: SourceUPN}},
		SignAssertion: true,
		MFAClassRef:   ClassMFAMicrosoft,
	}
}

// ParseSPConfig decodes and validates a ServiceProvider from store.Application.Config.
func ParseSPConfig(b []byte) (ServiceProvider, error) {
	var sp ServiceProvider
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sp); err != nil {
		return ServiceProvider{}, fmt.Errorf("saml sp config: %w", err)
	}
	sp.normalize()
	if err := sp.Validate(); err != nil {
		return ServiceProvider{}, err
	}
	return sp, nil
}

func (sp *ServiceProvider) normalize() {
	if sp.NameIDFormat == "" {
		sp.NameIDFormat = NameIDPersistent
	}
	if sp.NameIDSource == "" {
		switch sp.NameIDFormat {
		case NameIDTransient:
			sp.NameIDSource = SourceTransient
		case NameIDEmail:
			sp.NameIDSource = SourceEmail
		case NameIDUnspecified:
			sp.NameIDSource = SourceUPN
		default:
			sp.NameIDSource = SourceImmutableID
		}
	}
	if !sp.SignResponse && !sp.SignAssertion {
		sp.SignAssertion = true
	}
	if sp.MFAClassRef == "" {
		sp.MFAClassRef = ClassMFARefeds
		if sp.EntityID == Microsoft365EntityID {
			sp.MFAClassRef = ClassMFAMicrosoft
		}
	}
}

// Validate reports the first problem in the configuration.
func (sp *ServiceProvider) Validate() error {
	if sp.EntityID == "" || len(sp.EntityID) > 1024 {
		return errors.New("saml sp: entityId is required (at most 1024 characters)")
	}
	posts := 0
	for i, e := range sp.ACS {
		if e.Binding != BindingPOST {
			return fmt.Errorf("saml sp %s: acs[%d]: binding %q not supported (HTTP-POST only)", sp.EntityID, i, e.Binding)
		}
		if err := checkURL(e.Location); err != nil {
			return fmt.Errorf("saml sp %s: acs[%d]: %w", sp.EntityID, i, err)
		}
		posts++
	}
	if posts == 0 {
		return fmt.Errorf("saml sp %s: at least one HTTP-POST AssertionConsumerService is required", sp.EntityID)
	}
	for i, e := range sp.SLO {
		if e.Binding != BindingPOST && e.Binding != BindingRedirect {
			return fmt.Errorf("saml sp %s: slo[%d]: binding %q not supported", sp.EntityID, i, e.Binding)
		}
		if err := checkURL(e.Location); err != nil {
			return fmt.Errorf("saml sp %s: slo[%d]: %w", sp.EntityID, i, err)
		}
		if e.ResponseLocation != "" {
			if err := checkURL(e.ResponseLocation); err != nil {
				return fmt.Errorf("saml sp %s: slo[%d] responseLocation: %w", sp.EntityID, i, err)
			}
		}
	}
	switch sp.NameIDFormat {
	case NameIDPersistent, NameIDTransient, NameIDEmail, NameIDUnspecified:
	default:
		return fmt.Errorf("saml sp %s: nameIdFormat %q not supported", sp.EntityID, sp.NameIDFormat)
	}
	switch sp.NameIDSource {
	case SourceUPN, SourceEmail, SourceImmutableID, SourceTransient:
	default:
		return fmt.Errorf("saml sp %s: nameIdSource %q not supported", sp.EntityID, sp.NameIDSource)
	}
	if (sp.NameIDFormat == NameIDTransient) != (sp.NameIDSource == SourceTransient) {
		return fmt.Errorf("saml sp %s: the transient NameID format needs the transient source and vice versa", sp.EntityID)
	}
	for i, a := range sp.Attributes {
		if a.Name == "" {
			return fmt.Errorf("saml sp %s: attribute %d (from %s): name is required", sp.EntityID, i+1, a.Source)
		}
		if !slices.Contains(AttributeSources, a.Source) {
			return fmt.Errorf("saml sp %s: attribute %s: source %q not supported (%s)", sp.EntityID, a.Name, a.Source, strings.Join(AttributeSources, ", "))
		}
	}
	if sp.WantAuthnRequestsSigned && len(sp.Certificates) == 0 {
		return fmt.Errorf("saml sp %s: wantAuthnRequestsSigned needs at least one certificate", sp.EntityID)
	}
	if _, err := sp.certificates(); err != nil {
		return err
	}
	return nil
}

func (sp *ServiceProvider) certificates() ([]*x509.Certificate, error) {
	out := make([]*x509.Certificate, 0, len(sp.Certificates))
	for i, c := range sp.Certificates {
		der, err := base64.StdEncoding.DecodeString(stripSpace(c))
		if err != nil {
			return nil, fmt.Errorf("saml sp %s: certificates[%d]: %w", sp.EntityID, i, err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("saml sp %s: certificates[%d]: %w", sp.EntityID, i, err)
		}
		out = append(out, cert)
	}
	return out, nil
}

// defaultACS is the isDefault POST endpoint, else the one with the lowest index.
func (sp *ServiceProvider) defaultACS() (Endpoint, bool) {
	var best *Endpoint
	for i := range sp.ACS {
		e := &sp.ACS[i]
		if e.Binding != BindingPOST {
			continue
		}
		if e.IsDefault {
			return *e, true
		}
		if best == nil || e.Index < best.Index {
			best = e
		}
	}
	if best == nil {
		return Endpoint{}, false
	}
	return *best, true
}

// sloEndpoint picks the SP's SLO endpoint, preferring HTTP-Redirect.
func (sp *ServiceProvider) sloEndpoint() (Endpoint, bool) {
	for _, b := range []string{BindingRedirect, BindingPOST} {
		for _, e := range sp.SLO {
			if e.Binding == b {
				return e, true
			}
		}
	}
	return Endpoint{}, false
}

// checkURL accepts only absolute http(s) URLs with a host: no javascript:, data:, relative.
func checkURL(s string) error {
	if s == "" {
		return errors.New("URL is empty")
	}
	if strings.ContainsAny(s, " \t\r\n<>\"") {
		return fmt.Errorf("URL %q contains forbidden characters", s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("URL %q: %w", s, err)
	}
	if u.Scheme != "https" && u.Scheme != "http" {
		return fmt.Errorf("URL %q: scheme must be https or http", s)
	}
	if u.Host == "" || u.User != nil {
		return fmt.Errorf("URL %q: must have a host and no user info", s)
	}
	return nil
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
}

// ParseSPMetadata imports an SP from its SAML metadata (an EntityDescriptor, or an
// EntitiesDescriptor holding exactly one). Size-limited, DTDs refused, URLs must be http(s).
// Only HTTP-POST ACS endpoints are kept (PAOS etc. are not served).
func ParseSPMetadata(data []byte) (ServiceProvider, error) {
	root, err := parseXML(data, maxMetadataXML)
	if err != nil {
		return ServiceProvider{}, fmt.Errorf("sp metadata: %w", err)
	}
	if is(root, NSMetadata, "EntitiesDescriptor") {
		eds := children(root, NSMetadata, "EntityDescriptor")
		if len(eds) != 1 {
			return ServiceProvider{}, fmt.Errorf("sp metadata: EntitiesDescriptor holds %d entities, want exactly 1", len(eds))
		}
		root = eds[0]
	}
	if !is(root, NSMetadata, "EntityDescriptor") {
		return ServiceProvider{}, fmt.Errorf("sp metadata: root is {%s}%s, want md:EntityDescriptor", root.NamespaceURI(), root.Tag)
	}
	sp := ServiceProvider{EntityID: strings.TrimSpace(root.SelectAttrValue("entityID", ""))}
	var desc *etree.Element
	for _, d := range children(root, NSMetadata, "SPSSODescriptor") {
		if slices.Contains(strings.Fields(d.SelectAttrValue("protocolSupportEnumeration", "")), NSProtocol) {
			if desc != nil {
				return ServiceProvider{}, errors.New("sp metadata: more than one SAML 2.0 SPSSODescriptor")
			}
			desc = d
		}
	}
	if desc == nil {
		return ServiceProvider{}, errors.New("sp metadata: no SPSSODescriptor supporting SAML 2.0")
	}
	sp.WantAuthnRequestsSigned = desc.SelectAttrValue("AuthnRequestsSigned", "") == "true" || desc.SelectAttrValue("AuthnRequestsSigned", "") == "1"
	sp.SignAssertion = true

	for _, kd := range children(desc, NSMetadata, "KeyDescriptor") {
		if use := kd.SelectAttrValue("use", ""); use != "" && use != "signing" {
			continue
		}
		ki, _ := atMostOne(kd, NSDSig, "KeyInfo")
		if ki == nil {
			continue
		}
		for _, xd := range children(ki, NSDSig, "X509Data") {
			for _, xc := range children(xd, NSDSig, "X509Certificate") {
				t, err := textOf(xc)
				if err != nil {
					return ServiceProvider{}, fmt.Errorf("sp metadata: %w", err)
				}
				sp.Certificates = append(sp.Certificates, stripSpace(t))
			}
		}
	}
	for _, e := range children(desc, NSMetadata, "AssertionConsumerService") {
		ep, err := metadataEndpoint(e)
		if err != nil {
			return ServiceProvider{}, fmt.Errorf("sp metadata: AssertionConsumerService: %w", err)
		}
		if ep.Binding == BindingPOST {
			sp.ACS = append(sp.ACS, ep)
		}
	}
	for _, e := range children(desc, NSMetadata, "SingleLogoutService") {
		ep, err := metadataEndpoint(e)
		if err != nil {
			return ServiceProvider{}, fmt.Errorf("sp metadata: SingleLogoutService: %w", err)
		}
		if ep.Binding == BindingPOST || ep.Binding == BindingRedirect {
			sp.SLO = append(sp.SLO, ep)
		}
	}
	for _, f := range children(desc, NSMetadata, "NameIDFormat") {
		t, err := textOf(f)
		if err != nil {
			return ServiceProvider{}, fmt.Errorf("sp metadata: %w", err)
		}
		switch t {
		case NameIDPersistent, NameIDTransient, NameIDEmail, NameIDUnspecified:
			sp.NameIDFormat = t
		}
		if sp.NameIDFormat != "" {
			break
		}
	}
	sp.normalize()
	if err := sp.Validate(); err != nil {
		return ServiceProvider{}, fmt.Errorf("sp metadata: %w", err)
	}
	return sp, nil
}

func metadataEndpoint(e *etree.Element) (Endpoint, error) {
	ep := Endpoint{
		Binding:          e.SelectAttrValue("Binding", ""),
		Location:         strings.TrimSpace(e.SelectAttrValue("Location", "")),
		ResponseLocation: strings.TrimSpace(e.SelectAttrValue("ResponseLocation", "")),
		IsDefault:        e.SelectAttrValue("isDefault", "") == "true",
	}
	if err := checkURL(ep.Location); err != nil {
		return Endpoint{}, err
	}
	if ep.ResponseLocation != "" {
		if err := checkURL(ep.ResponseLocation); err != nil {
			return Endpoint{}, err
		}
	}
	if s := e.SelectAttrValue("index", ""); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 65535 {
			return Endpoint{}, fmt.Errorf("bad index %q", s)
		}
		ep.Index = n
	}
	return ep, nil
}
