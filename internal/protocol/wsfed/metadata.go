package wsfed

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"

	"github.com/beevik/etree"

	"github.com/sekisho/sekisho/internal/protocol/wstrust"
	"github.com/sekisho/sekisho/internal/saml11token"
)

const (
	nsMD    = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsFed   = "http://docs.oasis-open.org/wsfed/federation/200706"
	nsXSI   = "http://www.w3.org/2001/XMLSchema-instance"
	nsDSig  = "http://www.w3.org/2000/09/xmldsig#"
	fedProt = "http://docs.oasis-open.org/wsfed/federation/200706"
)

// Metadata returns the signed federation metadata for entityID: a SecurityTokenService
// RoleDescriptor with the current and (if any) next signing certificates, the passive
// endpoint and the WS-Trust endpoint.
func (h *Handler) Metadata(current *saml11token.Signer, next *x509.Certificate, entityID string) (*etree.Document, error) {
	id, err := saml11token.NewID()
	if err != nil {
		return nil, err
	}
	ed := etree.NewElement("EntityDescriptor")
	ed.CreateAttr("xmlns", nsMD)
	ed.CreateAttr("ID", id)
	ed.CreateAttr("entityID", entityID)
	rd := ed.CreateElement("RoleDescriptor")
	rd.CreateAttr("xmlns:xsi", nsXSI)
	rd.CreateAttr("xmlns:fed", nsFed)
	rd.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	rd.CreateAttr("protocolSupportEnumeration", fedProt)
	for _, c := range []*x509.Certificate{current.Certificate(), next} {
		if c == nil {
			continue
		}
		kd := rd.CreateElement("KeyDescriptor")
		kd.CreateAttr("use", "signing")
		ki := kd.CreateElement("KeyInfo")
		ki.CreateAttr("xmlns", nsDSig)
		ki.CreateElement("X509Data").CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Raw))
	}
	rd.CreateElement("fed:TokenTypesOffered").CreateElement("fed:TokenType").CreateAttr("Uri", saml11token.TokenType)
	endpoint := func(tag, addr string) {
		epr := rd.CreateElement(tag).CreateElement("wsa:EndpointReference")
		epr.CreateAttr("xmlns:wsa", nsWSA)
		epr.CreateElement("wsa:Address").SetText(addr)
	}
	endpoint("fed:SecurityTokenServiceEndpoint", h.cfg.BaseURL+wstrust.Path2005)
	endpoint("fed:PassiveRequestorEndpoint", h.cfg.BaseURL+PathPassive)

	// The metadata schema wants ds:Signature first.
	signed, err := current.SignEnvelopedFirst(ed, "ID")
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	doc.SetRoot(signed)
	return doc, nil
}

func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	entityID := h.cfg.EntityID
	if name := r.URL.Query().Get("domain"); name != "" {
		d, ok := h.cfg.Domains.Match("x@" + name)
		if !ok {
			http.Error(w, "unknown domain", http.StatusNotFound)
			return
		}
		entityID = d.IssuerURI
	}
	current, next, err := h.cfg.Keys.SigningKeys(r.Context())
	if err == nil {
		var doc *etree.Document
		if doc, err = h.Metadata(current, next, entityID); err == nil {
			w.Header().Set("Content-Type", "text/xml; charset=utf-8") // as ADFS serves it
			w.Header().Set("Cache-Control", "public, max-age=3600")
			_, _ = doc.WriteTo(w)
			return
		}
	}
	h.cfg.Logger.ErrorContext(r.Context(), "wsfed: metadata", "err", err)
	http.Error(w, "metadata unavailable", http.StatusInternalServerError)
}
