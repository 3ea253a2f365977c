package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/protocol/saml"
)

func init() { extraCommands = append(extraCommands, newAppCmd) }

func newAppCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "app", Short: "Register applications (SAML service providers)"}
	var sp saml.ServiceProvider
	var acs, slo, certFiles, attrs []string
	add := &cobra.Command{Use: "add saml NAME", Short: "Register a SAML 2.0 service provider", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if args[0] != "saml" {
				return fmt.Errorf("unknown application type %q; supported: saml", args[0])
			}
			for i, u := range acs {
				sp.ACS = append(sp.ACS, saml.Endpoint{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", Location: u, Index: i, IsDefault: i == 0})
			}
			for _, u := range slo {
				sp.SLO = append(sp.SLO, saml.Endpoint{Binding: "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect", Location: u})
			}
			if err := addAttributes(&sp, attrs); err != nil {
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
			if err := addAttributes(&sp, impAttrs); err != nil {
				return err
			}
			return registerSP(cmd, g, args[0], sp)
		}}
	imp.Flags().StringSliceVar(&impAttrs, "attribute", nil, "attribute mapping NAME=SOURCE[;FORMAT] (repeatable; metadata does not say which attributes an SP wants)")
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
			return writeJSON(cmd.OutOrStdout(), map[string]any{"name": a.Name, "protocol": a.Protocol, "entityId": a.EntityID,
				"config": json.RawMessage(a.Config), "updatedAt": a.UpdatedAt})
		})}
	remove := &cobra.Command{Use: "remove NAME", Short: "Remove an application", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.RemoveApplication(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		})}
	cmd.AddCommand(add, imp, list, show, remove)
	return cmd
}

// nameIDFormats maps the short names the CLI accepts to SAML URIs.
var nameIDFormats = map[string]string{"persistent": saml.NameIDPersistent, "transient": saml.NameIDTransient,
	"emailaddress": saml.NameIDEmail, "email": saml.NameIDEmail, "unspecified": saml.NameIDUnspecified}

func registerSP(cmd *cobra.Command, g *globals, name string, sp saml.ServiceProvider) error {
	if full, ok := nameIDFormats[strings.ToLower(sp.NameIDFormat)]; ok {
		sp.NameIDFormat = full
	}
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

// attrFormats maps short attribute name formats to SAML URIs.
var attrFormats = map[string]string{
	"basic":       "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
	"uri":         "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
	"unspecified": "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
}

// addAttributes parses NAME=SOURCE[;FORMAT] mappings onto sp.
func addAttributes(sp *saml.ServiceProvider, specs []string) error {
	for _, a := range specs {
		n, rest, ok := strings.Cut(a, "=")
		src, format, _ := strings.Cut(rest, ";")
		if !ok || n == "" || src == "" {
			return fmt.Errorf("--attribute %q must be NAME=SOURCE[;FORMAT] (sources: upn, email, displayName, immutableId, groups)", a)
		}
		m := saml.AttributeMapping{Name: n, Source: src}
		if format != "" {
			full, known := attrFormats[strings.ToLower(format)]
			if !known {
				full = format // a full URI
			}
			m.NameFormat = full
		}
		sp.Attributes = append(sp.Attributes, m)
	}
	return nil
}
