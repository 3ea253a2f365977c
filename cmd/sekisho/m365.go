package main

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/federation"
)

func init() { extraCommands = append(extraCommands, newM365Cmd) }

func readCertB64(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read certificate: %w", err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s holds no PEM certificate", path)
	}
	if _, err := x509.ParseCertificate(blk.Bytes); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return base64.StdEncoding.EncodeToString(blk.Bytes), nil
}

func newM365Cmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "m365", Short: "Federate Microsoft 365 domains to Sekisho (docs/microsoft-365.md)"}
	domain := &cobra.Command{Use: "domain", Short: "Federated Microsoft 365 domains"}
	var ds m365.DomainSettings
	var protocol string
	add := &cobra.Command{Use: "add DOMAIN", Short: "Add (or update) a federated domain", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ds.Name = args[0]
			switch strings.ToLower(protocol) {
			case "", "wsfed":
				ds.Protocol = m365.WSFed
			case "saml":
				ds.Protocol = m365.SAML
			default:
				return fmt.Errorf("--protocol %q must be wsFed or saml", protocol)
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			added, err := in.Admin.AddDomain(cmd.Context(), cliActor(), ds)
			if err != nil {
				return err
			}
			if added.RegisteredApp {
				fmt.Fprintf(cmd.OutOrStdout(), "registered Microsoft 365 (%s) as SAML application %s\n", m365.Realm, m365.DefaultApplication)
			}
			d := added.Domain
			fmt.Fprintf(cmd.OutOrStdout(), "domain %s federated by %s with issuer %s; next: sekisho m365 federate --domain %s\n",
				d.Name, d.Protocol, d.IssuerURI, d.Name)
			return nil
		}}
	f := add.Flags()
	f.StringVar(&ds.IssuerURI, "issuer-uri", "", "issuerUri, unique per federated domain (default http://DOMAIN/adfs/services/trust/)")
	f.StringVar(&protocol, "protocol", "wsFed", "wsFed or saml")
	f.StringVar(&ds.Application, "app", "", "application name used in policies (default microsoft365)")
	f.StringSliceVar(&ds.InsideNetworks, "inside-network", nil, "network whose clients get insidecorporatenetwork=true (repeatable)")
	f.BoolVar(&ds.EmitMFA, "emit-mfa", true, "report a second factor done at Sekisho as multipleauthn")
	f.StringSliceVar(&ds.Methods, "methods", nil, "sign-in methods allowed: passive (browsers, web views), active (WS-Trust: MSAL username/password, Exchange-proxied basic auth); default both")
	f.StringVar(&ds.PromptLoginBehavior, "prompt-login", "", "promptLoginBehavior told to Entra")
	f.StringVar(&ds.MFABehavior, "mfa-behavior", "", "federatedIdpMfaBehavior told to Entra")
	list := &cobra.Command{Use: "list", Short: "List federated domains", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			all, err := m365.LoadDomains(cmd.Context(), in.Store)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "DOMAIN\tPROTOCOL\tISSUER URI\tAPPLICATION\tINSIDE NETWORKS\tMETHODS")
			for _, d := range all {
				methods := "passive,active"
				if len(d.Methods) > 0 {
					methods = strings.Join(d.Methods, ",")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Protocol, d.IssuerURI, d.App(), strings.Join(d.InsideNetworks, ","), methods)
			}
			return tw.Flush()
		})}
	show := &cobra.Command{Use: "show DOMAIN", Short: "Show a domain's settings (JSON)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			d, err := m365.GetDomain(cmd.Context(), in.Store, args[0])
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), d)
		})}
	remove := &cobra.Command{Use: "remove DOMAIN", Short: "Stop federating a domain here (convert it in Entra first)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.RemoveDomain(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %s\n", args[0])
			return nil
		})}
	domain.AddCommand(add, list, show, remove)

	var fedDomain, format string
	federate := &cobra.Command{Use: "federate --domain DOMAIN", Short: "Print the Entra ID federation settings for a domain", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			d, err := m365.GetDomain(cmd.Context(), in.Store, fedDomain)
			if err != nil {
				return err
			}
			cfg, err := federation.ForStored(cmd.Context(), in.Store, in.Keys, d.Name, in.Config.BaseURL)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch format {
			case "graph-json":
				return writeJSON(out, cfg)
			case "powershell":
				_, err := fmt.Fprint(out, federation.PowerShell(d.Name, cfg))
				return err
			case "msol":
				_, err := fmt.Fprint(out, federation.Msol(d.Name, cfg))
				return err
			}
			return fmt.Errorf("--format %q must be powershell, graph-json or msol", format)
		})}
	federate.Flags().StringVar(&fedDomain, "domain", "", "the federated domain")
	federate.Flags().StringVar(&format, "format", "powershell", "powershell, graph-json or msol")
	_ = federate.MarkFlagRequired("domain")

	var checkDomain string
	check := &cobra.Command{Use: "check --domain DOMAIN", Short: "List what would break federation for a domain", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			in, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer in.Close()
			d, err := m365.GetDomain(ctx, in.Store, checkDomain)
			if err != nil {
				return err
			}
			problems, err := federation.CheckStored(ctx, in.Store, in.Keys, d.Name, in.Config.BaseURL, time.Now())
			if err != nil {
				return err
			}
			for _, p := range problems {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", p.Severity, p.Text)
			}
			if len(problems) == 0 {
				fmt.Fprintf(cmd.OutOrStdout(), "ok: %s is ready to federate\n", d.Name)
				return nil
			}
			for _, p := range problems {
				if p.Severity == "error" {
					return errors.New("federation would fail; fix the errors above")
				}
			}
			return nil
		}}
	check.Flags().StringVar(&checkDomain, "domain", "", "the federated domain")
	_ = check.MarkFlagRequired("domain")
	cmd.AddCommand(domain, federate, check)
	return cmd
}
