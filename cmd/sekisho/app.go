package main

import (
	"encoding/json"
	"fmt"
	"os"
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
				"subject-type", "post-logout-redirect-uri", "backchannel-logout-uri"}
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
	update := &cobra.Command{Use: "update NAME", Short: "Change a SAML application's settings (only the options given)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			set := cmd.Flags().Changed
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
	cmd.AddCommand(add, imp, update, list, show, remove)
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
