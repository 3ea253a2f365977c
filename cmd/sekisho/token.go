package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/setup"
)

func init() { extraCommands = append(extraCommands, newTokenCmd) }

func newTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Admin API tokens: bearer tokens for /api/v1, acting as their owner"}
	var role, name, lifetime string
	create := &cobra.Command{Use: "create OWNER-UPN", Short: "Create an API token (printed once; Sekisho keeps only a keyed hash)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			life, err := config.ParseDuration(lifetime)
			if err != nil {
				return fmt.Errorf("--lifetime: %w", err)
			}
			t, err := in.Admin.CreateToken(cmd.Context(), cliActor(), admin.NewToken{Owner: args[0], Role: roles.Role(role), Name: name, Lifetime: life})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "token %s for %s (role %s), valid until %s:\n\n%s\n\n", t.ID, t.Owner, t.Role, t.ExpiresAt.Format("2006-01-02"), t.Token)
			fmt.Fprintln(out, "It is shown this once. Send it as: Authorization: Bearer <token>. The policy decides where it may be used")
			fmt.Fprintln(out, "(application sekisho-admin, protocol api); a token is not a second factor.")
			return nil
		})}
	f := create.Flags()
	f.StringVar(&role, "role", "auditor", "admin, helpdesk or auditor (at most the owner's own role)")
	f.StringVar(&name, "name", "", "what the token is for (required)")
	f.StringVar(&lifetime, "lifetime", "90d", "how long it is valid (at most 366d)")

	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List API tokens, revoked and expired ones too", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			ts, err := in.Admin.ListTokens(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tOWNER\tROLE\tNAME\tEXPIRES\tLAST USED\tSTATE")
			for _, t := range ts {
				used, state := "never", "active"
				if !t.LastUsedAt.IsZero() {
					used = t.LastUsedAt.Format("2006-01-02 15:04") + " from " + t.LastIP
				}
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Owner, t.Role, t.Name, t.ExpiresAt.Format("2006-01-02"), used, state)
			}
			return tw.Flush()
		})}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke an API token at once", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			t, err := in.Admin.RevokeToken(cmd.Context(), cliActor(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked token %s of %s (%s)\n", t.ID, t.Owner, t.Name)
			return nil
		})}
	cmd.AddCommand(create, list, revoke)
	return cmd
}
