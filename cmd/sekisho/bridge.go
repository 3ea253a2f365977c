package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/setup"
)

func init() { extraCommands = append(extraCommands, newBridgeCmd) }

// newBridgeCmd is `sekisho bridge`: the legacy mail bridge (docs/mail-bridge.md).
func newBridgeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "bridge", Short: "The mail bridge: IMAP, POP3 and SMTP with app passwords in, OAuth 2.0 to the mail server out"}
	cmd.AddCommand(newBridgeCredentialCmd(g), newBridgeUpstreamCmd(g))
	return cmd
}

func newBridgeCredentialCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "credential", Short: "App passwords of devices and programs that can only send a user name and password"}
	var user, name, lifetime string
	var scopes, from []string
	issue := &cobra.Command{Use: "issue", Short: "Issue an app password (printed once; Sekisho keeps only a keyed hash)", Args: cobra.NoArgs,
		Long: "Makes an app password for one device or program of a user: it signs in to the bridge as the user's UPN with " +
			"this password (never the user's own), only for the scopes given (imap, pop, smtp-send) and, for smtp-send, only " +
			"as the sender addresses given (default: the user's own). The policy still judges every connection (client types " +
			"bridge-imap, bridge-pop, bridge-smtp).",
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			life, err := config.ParseDuration(lifetime)
			if err != nil {
				return fmt.Errorf("--lifetime: %w", err)
			}
			c, err := in.Admin.IssueBridgeCredential(cmd.Context(), cliActor(), admin.NewBridgeCredential{User: user, Name: name,
				Scopes: scopes, From: from, Lifetime: life})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "app password %q for %s (%s), valid until %s:\n\n%s\n\n", c.Name, c.User, strings.Join(c.Scopes, ", "),
				c.ExpiresAt.Format("2006-01-02"), c.Password)
			if len(c.From) > 0 {
				fmt.Fprintf(out, "It may send as: %s\n", strings.Join(c.From, ", "))
			}
			fmt.Fprintf(out, "It is shown this once. The device signs in with the user name %s and this password.\n", c.User)
			return nil
		})}
	f := issue.Flags()
	f.StringVar(&user, "user", "", "UPN of the mailbox's user (required)")
	f.StringVar(&name, "name", "", "the device or program, e.g. printer-3f (required)")
	f.StringSliceVar(&scopes, "scope", nil, "imap, pop, smtp-send (repeat or comma-separate; required)")
	f.StringSliceVar(&from, "from", nil, "sender address smtp-send may use (repeat; default: the user's own)")
	f.StringVar(&lifetime, "lifetime", "365d", fmt.Sprintf("how long it is valid (at most %dd)", int(apppassword.MaxLifetime.Hours()/24)))
	_ = issue.MarkFlagRequired("user")
	_ = issue.MarkFlagRequired("name")
	_ = issue.MarkFlagRequired("scope")

	var listUser string
	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List app passwords, revoked and expired ones too", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			cs, err := in.Admin.ListBridgeCredentials(cmd.Context(), listUser)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), cs)
			}
			now := time.Now()
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tNAME\tSCOPES\tFROM\tEXPIRES\tLAST USED\tSTATE")
			for _, c := range cs {
				used := "never"
				if !c.LastUsedAt.IsZero() {
					used = c.LastUsedAt.Format("2006-01-02 15:04") + " from " + c.LastIP
				}
				fromList := strings.Join(c.From, ",")
				if fromList == "" {
					fromList = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.User, c.Name, strings.Join(c.Scopes, ","), fromList,
					c.ExpiresAt.Format("2006-01-02"), used, c.State(now))
			}
			return tw.Flush()
		})}
	list.Flags().StringVar(&listUser, "user", "", "only this user's")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var revUser, revName string
	revoke := &cobra.Command{Use: "revoke", Short: "Revoke an app password at once (open connections are closed too)", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			c, err := in.Admin.RevokeBridgeCredential(cmd.Context(), cliActor(), revUser, revName)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked app password %q of %s\n", c.Name, c.User)
			return nil
		})}
	revoke.Flags().StringVar(&revUser, "user", "", "UPN of the user (required)")
	revoke.Flags().StringVar(&revName, "name", "", "the credential's name (required)")
	_ = revoke.MarkFlagRequired("user")
	_ = revoke.MarkFlagRequired("name")
	cmd.AddCommand(issue, list, revoke)
	return cmd
}
