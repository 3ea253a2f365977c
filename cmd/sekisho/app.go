package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/protocol/saml"
)

func init() { extraCommands = append(extraCommands, newAppCmd) }

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Register applications (SAML service providers, OpenID Connect clients)"}
	var sp saml.ServiceProvider
	var acs, slo, certFiles, attrs []string
	var oc admin.NewOIDCClient
	add := &cobra.Command{Use: "add saml|oidc NAME", Short: "Register a SAML 2.0 service provider or an OpenID Connect client", Args: cobra.ExactArgs(2),
		Example: `  sekisho app add saml wiki --entity-id https://wiki.example.com/sp --acs https://wiki.example.com/acs
  sekisho app add oidc grafana --redirect-uri https://grafana.example.com/login/generic_oauth
  sekisho app add oidc cli-tool --public --redirect-uri http://127.0.0.1:8400/callback --scope openid,email
  sekisho app add oidc portal --redirect-uri https://portal.example.com/cb --grant authorization_code,refresh_token --refresh-token-lifetime 14d
  sekisho app add oidc nightly-export --grant client_credentials
  sekisho app add oidc kubectl --public --grant device_code,refresh_token`,
		RunE: func(cmd *cobra.Command, args []string) error {
			samlOnly := []string{"entity-id", "acs", "slo", "nameid-format", "nameid-source", "attribute", "require-signed-requests",
				"sp-cert", "sign-response", "sign-assertion", "allow-idp-initiated"}
			oidcOnly := []string{"redirect-uri", "public", "scope", "grant", "access-token-lifetime", "id-token-lifetime", "refresh-token-lifetime",
				"subject-type", "post-logout-redirect-uri", "backchannel-logout-uri", "signing-alg"}
			given := func(names []string) string {
				for _, n := range names {
					if cmd.Flags().Changed(n) {
						return n
					}
				}
				return ""
			}
			switch args[0] {
			case "oidc":
				if f := given(samlOnly); f != "" {
					return fmt.Errorf("--%s is a SAML option; an OpenID Connect client takes --redirect-uri, --public, --scope, --grant and the lifetimes", f)
				}
				return registerOIDC(cmd, g, args[1], oc)
			case "saml":
				if f := given(oidcOnly); f != "" {
					return fmt.Errorf("--%s is an OpenID Connect option (app add oidc)", f)
				}
			default:
				return fmt.Errorf("unknown application type %q; supported: saml, oidc", args[0])
			}
			for i, u := range acs {
				sp.ACS = append(sp.ACS, saml.Endpoint{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: u, Index: i, IsDefault: i == 0})
			}
			for _, u := range slo {
				sp.SLO = append(sp.SLO, saml.Endpoint{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Location: u})
			}
			var err error
			if sp.Attributes, err = attributes(attrs); err != nil {
				return err
			}
			for _, f := range certFiles {
				c, err := readCertB64(f)
				if err != nil {
					return err
				}
				sp.Certificates = append(sp.Certificates, c)
			}
			return registerSP(cmd, g, args[1], sp)
		}}
	f := add.Flags()
	f.StringVar(&sp.EntityID, "entity-id", "", "the SP's entity ID")
	f.StringSliceVar(&acs, "acs", nil, "assertion consumer service URL (HTTP-POST; repeatable, first is the default)")
	f.StringSliceVar(&slo, "slo", nil, "single logout URL (HTTP-Redirect)")
	f.StringVar(&sp.NameIDFormat, "nameid-format", "", "persistent (default), emailAddress, unspecified or transient")
	f.StringVar(&sp.NameIDSource, "nameid-source", "", "immutableId (default), upn, email")
	f.StringSliceVar(&attrs, "attribute", nil, "attribute mapping NAME=SOURCE[;FORMAT] (repeatable); FORMAT basic, uri or unspecified")
	f.BoolVar(&sp.WantAuthnRequestsSigned, "require-signed-requests", false, "reject unsigned AuthnRequests and LogoutRequests")
	f.StringSliceVar(&certFiles, "sp-cert", nil, "PEM file with the SP's signing certificate")
	f.BoolVar(&sp.SignResponse, "sign-response", false, "sign the Response")
	f.BoolVar(&sp.SignAssertion, "sign-assertion", true, "sign the Assertion")
	f.BoolVar(&sp.AllowIdPInitiated, "allow-idp-initiated", false, "allow IdP-initiated sign-in (unsolicited responses)")
	f.StringArrayVar(&oc.RedirectURIs, "redirect-uri", nil, "oidc: a redirect URI, matched exactly (repeatable)")
	f.BoolVar(&oc.Public, "public", false, "oidc: a public client (browser or native app): no secret, PKCE S256 required")
	f.StringSliceVar(&oc.Scopes, "scope", nil, "oidc: scopes the client may be granted (default openid,profile,email,groups)")
	f.DurationVar(&oc.AccessTokenLifetime, "access-token-lifetime", 0, "oidc: access token lifetime (default 10m)")
	f.DurationVar(&oc.IDTokenLifetime, "id-token-lifetime", 0, "oidc: ID token lifetime (default 5m)")
	f.StringSliceVar(&oc.Grants, "grant", nil, "oidc: grants the client may use: authorization_code (default), refresh_token (with authorization_code or device_code), client_credentials (confidential clients), device_code (RFC 8628, for command-line tools and devices without a browser)")
	f.StringVar(&oc.SubjectType, "subject-type", "", "oidc: public (default: sub is the user's ID) or pairwise (sub differs per client sector)")
	f.StringArrayVar(&oc.PostLogoutRedirectURIs, "post-logout-redirect-uri", nil, "oidc: where RP-initiated logout may return the browser, matched exactly (repeatable)")
	f.StringVar(&oc.BackchannelLogoutURI, "backchannel-logout-uri", "", "oidc: the client's back-channel logout endpoint (receives a logout token when the session ends)")
	f.StringVar(&oc.SigningAlg, "signing-alg", "", "oidc: the ID and access tokens' signature: RS256 (default) or ES256 (the P-256 token key; the relying party must accept ES256)")
	f.Var(daysDuration{&oc.RefreshTokenLifetime}, "refresh-token-lifetime", "oidc: refresh token lifetime, renewed at each use (default 30d; with the refresh_token grant)")

	var impAttrs []string
	imp := &cobra.Command{Use: "import-metadata NAME FILE", Short: "Register a SAML SP from its metadata XML", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := os.ReadFile(args[1])
			if err != nil {
				return fmt.Errorf("read metadata: %w", err)
			}
			sp, err := saml.ParseSPMetadata(b)
			if err != nil {
				return fmt.Errorf("%s: %w", args[1], err)
			}
			if sp.Attributes, err = attributes(impAttrs); err != nil {
				return err
			}
			return registerSP(cmd, g, args[0], sp)
		}}
	imp.Flags().StringSliceVar(&impAttrs, "attribute", nil, "attribute mapping NAME=SOURCE[;FORMAT] (repeatable; metadata does not say which attributes an SP wants)")
	var upd saml.ServiceProvider
	var updAttrs []string
	var uo oidcChange
	update := &cobra.Command{Use: "update NAME", Short: "Change an application's settings (only the options given)", Args: cobra.ExactArgs(1),
		Example: `  sekisho app update wiki --attribute mail=email --allow-idp-initiated
  sekisho app update grafana --add-redirect-uri https://grafana2.example.com/login/generic_oauth
  sekisho app update portal --grant authorization_code,refresh_token --refresh-token-lifetime 14d --access-token-lifetime 15m`,
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			set := cmd.Flags().Changed
			app, err := in.Store.GetApplication(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("application %s: %w", args[0], err)
			}
			samlOnly := []string{"attribute", "nameid-format", "nameid-source", "allow-idp-initiated", "sign-response", "sign-assertion", "require-signed-requests"}
			for _, f := range append(slices.Clone(samlOnly), oidcUpdateFlags...) {
				if !set(f) {
					continue
				}
				if app.Protocol == oidc.Protocol && slices.Contains(samlOnly, f) {
					return fmt.Errorf("--%s is a SAML option; %s is an OpenID Connect client", f, args[0])
				}
				if app.Protocol != oidc.Protocol && !slices.Contains(samlOnly, f) {
					return fmt.Errorf("--%s is an OpenID Connect option; %s is a %s application", f, args[0], app.Protocol)
				}
			}
			if app.Protocol == oidc.Protocol {
				return updateOIDC(cmd, in, args[0], uo)
			}
			maps, err := attributes(updAttrs)
			if err != nil {
				return err
			}
			sp, err := in.Admin.UpdateApplication(cmd.Context(), cliActor(), args[0], func(sp *saml.ServiceProvider) error {
				if set("attribute") {
					sp.Attributes = maps
				}
				if set("nameid-format") {
					sp.NameIDFormat, sp.NameIDSource = saml.NameIDFormatURI(upd.NameIDFormat), "" // the format's default source unless --nameid-source
				}
				if set("nameid-source") {
					sp.NameIDSource = upd.NameIDSource
				}
				if set("allow-idp-initiated") {
					sp.AllowIdPInitiated = upd.AllowIdPInitiated
				}
				if set("sign-response") {
					sp.SignResponse = upd.SignResponse
				}
				if set("sign-assertion") {
					sp.SignAssertion = upd.SignAssertion
				}
				if set("require-signed-requests") {
					sp.WantAuthnRequestsSigned = upd.WantAuthnRequestsSigned
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "updated SAML application %s (%s): %d attribute mapping(s)\n", args[0], sp.EntityID, len(sp.Attributes))
			return nil
		})}
	uf := update.Flags()
	uf.StringSliceVar(&updAttrs, "attribute", nil, "attribute mapping NAME=SOURCE[;FORMAT] (repeatable); replaces every mapping (--attribute= removes them all)")
	uf.StringVar(&upd.NameIDFormat, "nameid-format", "", "persistent, emailAddress, unspecified or transient")
	uf.StringVar(&upd.NameIDSource, "nameid-source", "", "immutableId, upn, email")
	uf.BoolVar(&upd.AllowIdPInitiated, "allow-idp-initiated", false, "allow IdP-initiated sign-in (unsolicited responses)")
	uf.BoolVar(&upd.SignResponse, "sign-response", false, "sign the Response")
	uf.BoolVar(&upd.SignAssertion, "sign-assertion", true, "sign the Assertion")
	uf.BoolVar(&upd.WantAuthnRequestsSigned, "require-signed-requests", false, "reject unsigned AuthnRequests and LogoutRequests")
	uf.StringArrayVar(&uo.redirectURIs, "redirect-uri", nil, "oidc: replaces the redirect URIs, matched exactly (repeatable; --redirect-uri= removes them all)")
	uf.StringArrayVar(&uo.addRedirectURIs, "add-redirect-uri", nil, "oidc: add a redirect URI (repeatable)")
	uf.StringArrayVar(&uo.removeRedirectURIs, "remove-redirect-uri", nil, "oidc: remove a redirect URI (repeatable)")
	uf.StringSliceVar(&uo.grants, "grant", nil, "oidc: replaces the grants: authorization_code, refresh_token, client_credentials, device_code")
	uf.StringSliceVar(&uo.scopes, "scope", nil, "oidc: replaces the scopes the client may be granted (openid is always included)")
	uf.DurationVar(&uo.accessTTL, "access-token-lifetime", 0, "oidc: access token lifetime (30s to 24h; 0: the default 10m)")
	uf.DurationVar(&uo.idTTL, "id-token-lifetime", 0, "oidc: ID token lifetime (30s to 24h; 0: the default 5m)")
	uf.Var(daysDuration{&uo.refreshTTL}, "refresh-token-lifetime", "oidc: refresh token lifetime (with the refresh_token grant; 0: the default 30d)")
	uf.StringVar(&uo.subjectType, "subject-type", "", "oidc: public or pairwise (every user's sub changes for the client)")
	uf.StringArrayVar(&uo.postLogoutURIs, "post-logout-redirect-uri", nil, "oidc: replaces where RP-initiated logout may return the browser (repeatable; --post-logout-redirect-uri= removes them all)")
	uf.StringVar(&uo.backchannelURI, "backchannel-logout-uri", "", "oidc: the client's back-channel logout endpoint (--backchannel-logout-uri= removes it)")
	uf.StringVar(&uo.signingAlg, "signing-alg", "", "oidc: the tokens' signature: RS256 or ES256")
	var keepOld time.Duration
	rotate := &cobra.Command{Use: "rotate-secret NAME", Short: "Give a confidential OpenID Connect client a new secret (shown once)", Args: cobra.ExactArgs(1),
		Example: `  sekisho app rotate-secret grafana                 # the old secret stops working at once
  sekisho app rotate-secret grafana --keep-old 24h  # both work for a day: deploy the new one meanwhile`,
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			r, err := in.Admin.RotateOIDCSecret(cmd.Context(), cliActor(), args[0], keepOld)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "new secret for OpenID Connect client %s\n", args[0])
			fmt.Fprintf(out, "client_id:     %s\n", r.Client.ClientID)
			fmt.Fprintf(out, "client_secret: %s\n", r.Secret)
			fmt.Fprintln(out, "  (shown once: Sekisho keeps only a keyed hash of it; store it in the application's secret store now)")
			if r.PreviousExpires.IsZero() {
				fmt.Fprintln(out, "the previous secret no longer works")
			} else {
				fmt.Fprintf(out, "the previous secret works until %s\n", r.PreviousExpires.UTC().Format(time.RFC3339))
			}
			return nil
		})}
	rotate.Flags().Var(daysDuration{&keepOld}, "keep-old", fmt.Sprintf("keep the previous secret working this long, e.g. 24h or 7d (at most %dd; default: it stops at once)", int(oidc.MaxPreviousSecretLifetime.Hours()/24)))
	list := &cobra.Command{Use: "list", Short: "List applications", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			apps, err := in.Store.ListApplications(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tPROTOCOL\tENTITY ID")
			for _, a := range apps {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Name, a.Protocol, a.EntityID)
			}
			return tw.Flush()
		})}
	show := &cobra.Command{Use: "show NAME", Short: "Show an application's settings (JSON)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			a, err := in.Store.GetApplication(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("application %s: %w", args[0], err)
			}
			cfg := json.RawMessage(a.Config)
			if a.Protocol == oidc.Protocol {
				cfg = oidc.PublicView(a.Config) // never the secret's hash
			}
			return writeJSON(cmd.OutOrStdout(), map[string]any{"name": a.Name, "protocol": a.Protocol, "entityId": a.EntityID,
				"config": cfg, "updatedAt": a.UpdatedAt})
		})}
	remove := &cobra.Command{Use: "remove NAME", Short: "Remove an application", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.RemoveApplication(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		})}
	cmd.AddCommand(add, imp, update, rotate, list, show, remove)
	return cmd
}

func registerSP(cmd *cobra.Command, g *globals, name string, sp saml.ServiceProvider) error {
	sp.NameIDFormat = saml.NameIDFormatURI(sp.NameIDFormat)
	in, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer in.Close()
	if sp, err = in.Admin.AddApplication(cmd.Context(), cliActor(), name, sp); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "registered SAML application %s (%s); IdP metadata: %s/saml/metadata\n", name, sp.EntityID, in.Config.BaseURL)
	return nil
}

func registerOIDC(cmd *cobra.Command, g *globals, name string, nc admin.NewOIDCClient) error {
	in, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer in.Close()
	nc.SigningAlg = strings.ToUpper(strings.TrimSpace(nc.SigningAlg))
	c, err := in.Admin.AddOIDCClient(cmd.Context(), cliActor(), name, nc)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "registered OpenID Connect client %s (%s)\n", name, c.Client.Type)
	fmt.Fprintf(out, "client_id:     %s\n", c.Client.ClientID)
	if c.Secret != "" {
		fmt.Fprintf(out, "client_secret: %s\n", c.Secret)
		fmt.Fprintln(out, "  (shown once: Sekisho keeps only a keyed hash of it; store it in the application's secret store now)")
	}
	fmt.Fprintf(out, "grants:        %s\n", strings.Join(c.Client.Grants, ", "))
	if c.Client.Allows(oidc.GrantRefreshToken) {
		fmt.Fprintf(out, "refresh tokens: with the offline_access scope; valid %s from each use\n", c.Client.RefreshTTL())
	}
	fmt.Fprintf(out, "issuer:        %s\n", in.Config.BaseURL)
	fmt.Fprintf(out, "discovery:     %s%s\n", in.Config.BaseURL, oidc.DiscoveryPath)
	if c.Client.Allows(oidc.GrantClientCredentials) {
		fmt.Fprintf(out, "token:         %s%s (the policy judges this client by its application name %s)\n", in.Config.BaseURL, oidc.TokenPath, name)
	}
	if c.Client.Allows(oidc.GrantDeviceCode) {
		fmt.Fprintf(out, "device:        %s%s (users enter the code at %s%s)\n", in.Config.BaseURL, oidc.DeviceAuthorizationPath, in.Config.BaseURL, oidc.DevicePath)
	}
	if c.Client.IsPairwise() {
		fmt.Fprintf(out, "subjects:      pairwise (sector %s)\n", c.Client.Sector())
	}
	if c.Client.SigningAlg != "" {
		fmt.Fprintf(out, "tokens signed: %s (the relying party must accept it; the keys: sekisho keys list --alg %s)\n", c.Client.SigningAlg, c.Client.SigningAlg)
	}
	return nil
}

// oidcChange is what app update was told for an OpenID Connect client.
type oidcChange struct {
	redirectURIs, addRedirectURIs, removeRedirectURIs, postLogoutURIs []string
	grants, scopes                                                    []string
	accessTTL, idTTL, refreshTTL                                      time.Duration
	subjectType, backchannelURI                                       string
	signingAlg                                                        string
}

var oidcUpdateFlags = []string{"redirect-uri", "add-redirect-uri", "remove-redirect-uri", "grant", "scope", "access-token-lifetime",
	"id-token-lifetime", "refresh-token-lifetime", "subject-type", "post-logout-redirect-uri", "backchannel-logout-uri", "signing-alg"}

// nonEmpty drops the empty values a flag given as --flag= leaves.
func nonEmpty(xs []string) []string {
	return slices.DeleteFunc(slices.Clone(xs), func(x string) bool { return strings.TrimSpace(x) == "" })
}

// updateOIDC changes the options given of OpenID Connect client name.
func updateOIDC(cmd *cobra.Command, in *setup.Instance, name string, uo oidcChange) error {
	set := cmd.Flags().Changed
	var sector string // the sector of pairwise subjects before the change ("" if public)
	c, err := in.Admin.UpdateOIDCClient(cmd.Context(), cliActor(), name, func(c *oidc.ClientConfig) error {
		if c.IsPairwise() {
			sector = c.Sector()
		}
		if set("redirect-uri") {
			c.RedirectURIs = nonEmpty(uo.redirectURIs)
		}
		for _, u := range uo.removeRedirectURIs {
			if !slices.Contains(c.RedirectURIs, u) {
				return fmt.Errorf("--remove-redirect-uri %s: the client has no such redirect URI", u)
			}
			c.RedirectURIs = slices.DeleteFunc(c.RedirectURIs, func(x string) bool { return x == u })
		}
		for _, u := range nonEmpty(uo.addRedirectURIs) {
			if slices.Contains(c.RedirectURIs, u) {
				return fmt.Errorf("--add-redirect-uri %s: the client has this redirect URI already", u)
			}
			c.RedirectURIs = append(c.RedirectURIs, u)
		}
		if set("grant") {
			c.Grants = nonEmpty(uo.grants)
		}
		if set("scope") {
			c.Scopes = nonEmpty(uo.scopes)
		}
		if set("access-token-lifetime") {
			c.AccessTokenLifetime = config.Duration(uo.accessTTL)
		}
		if set("id-token-lifetime") {
			c.IDTokenLifetime = config.Duration(uo.idTTL)
		}
		if set("refresh-token-lifetime") {
			c.RefreshTokenLifetime = config.Duration(uo.refreshTTL)
		}
		if set("subject-type") {
			c.SubjectType = uo.subjectType
		}
		if set("post-logout-redirect-uri") {
			c.PostLogoutRedirectURIs = nonEmpty(uo.postLogoutURIs)
		}
		if set("backchannel-logout-uri") {
			c.BackchannelLogoutURI = strings.TrimSpace(uo.backchannelURI)
		}
		if set("signing-alg") {
			c.SigningAlg = strings.ToUpper(strings.TrimSpace(uo.signingAlg))
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "updated OpenID Connect client %s (%s, %s)\n", name, c.Type, c.ClientID)
	if len(c.RedirectURIs) > 0 {
		fmt.Fprintf(out, "redirect URIs: %s\n", strings.Join(c.RedirectURIs, ", "))
	}
	fmt.Fprintf(out, "grants:        %s\n", strings.Join(c.Grants, ", "))
	fmt.Fprintf(out, "scopes:        %s\n", strings.Join(c.Scopes, ", "))
	lifetimes := fmt.Sprintf("access token %s, ID token %s", c.AccessTTL(), c.IDTTL())
	if c.Allows(oidc.GrantRefreshToken) {
		lifetimes += fmt.Sprintf(", refresh token %s", c.RefreshTTL())
	}
	fmt.Fprintf(out, "lifetimes:     %s\n", lifetimes)
	if c.IsPairwise() {
		fmt.Fprintf(out, "subjects:      pairwise (sector %s)\n", c.Sector())
	}
	if now := map[bool]string{true: c.Sector()}[c.IsPairwise()]; now != sector {
		fmt.Fprintln(out, "  (the subject type or sector changed: every user's sub for this client is a new one)")
	}
	if len(c.PostLogoutRedirectURIs) > 0 {
		fmt.Fprintf(out, "after logout:  %s\n", strings.Join(c.PostLogoutRedirectURIs, ", "))
	}
	if c.BackchannelLogoutURI != "" {
		fmt.Fprintf(out, "back-channel logout: %s\n", c.BackchannelLogoutURI)
	}
	if c.SigningAlg != "" {
		fmt.Fprintf(out, "tokens signed: %s\n", c.SigningAlg)
	}
	fmt.Fprintln(out, "in force on every server within the change poll interval")
	return nil
}

// daysDuration is a duration flag that also takes whole days ("30d").
type daysDuration struct{ d *time.Duration }

func (v daysDuration) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v daysDuration) Set(s string) error {
	d, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

func (daysDuration) Type() string { return "duration" }

// attributes parses --attribute NAME=SOURCE[;FORMAT] mappings.
func attributes(specs []string) ([]saml.AttributeMapping, error) {
	var out []saml.AttributeMapping
	for _, a := range specs {
		m, err := saml.ParseAttributeMapping(a)
		if err != nil {
			return nil, fmt.Errorf("--attribute: %w", err)
		}
		out = append(out, m)
	}
	return out, nil
}
