package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/setup"
)

func init() { extraCommands = append(extraCommands, newDirectoryCmd) }

func newDirectoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "directory", Short: "Directory connectors: LDAP / Active Directory sync, SCIM 2.0 provisioning tokens"}
	var dryRun, force, asJSON bool
	sync := &cobra.Command{Use: "sync", Short: "Sync users and groups from the configured directory now", Args: cobra.NoArgs,
		Long: "Reads every user and group of directory.ldap (sekisho.yaml) and brings Sekisho's copy in line: creates and " +
			"updates users and groups, marks users no longer found and disables them after the grace period. A sync that " +
			"would disable more than max_disable_percent of the connector's active users stops and changes nothing; " +
			"--force lets it through. --dry-run reports what would change.",
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			if _, ok := in.Directory.Connector(ldapconn.ID); !ok {
				return errors.New("no directory connector is configured: set directory.ldap in sekisho.yaml (docs/directory.md)")
			}
			a := cliActor()
			rep, err := in.Directory.Sync(cmd.Context(), ldapconn.ID, directory.SyncOptions{Actor: a.Name, Via: a.Via, DryRun: dryRun, Force: force})
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				if jerr := enc.Encode(rep); jerr != nil {
					return jerr
				}
			} else {
				printSyncReport(cmd.OutOrStdout(), rep)
			}
			return err
		})}
	sync.Flags().BoolVar(&dryRun, "dry-run", false, "report what the sync would change, change nothing")
	sync.Flags().BoolVar(&force, "force", false, "let a sync over the disable threshold through")
	sync.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.AddCommand(sync, newSCIMTokenCmd(g))
	return cmd
}

func printSyncReport(w io.Writer, r directory.SyncReport) {
	head := "directory " + r.Connector
	switch {
	case r.Error != "":
		fmt.Fprintf(w, "%s: not read, nothing changed\n", head)
		return
	case r.Stopped:
		head += ": STOPPED by the threshold, nothing changed"
	case r.DryRun:
		head += ": dry run, nothing changed"
	}
	fmt.Fprintln(w, head)
	fmt.Fprintf(w, "  users found %d: created %d, updated %d, unchanged %d, enabled %d, disabled %d, missing (in grace) %d\n",
		r.Found, r.Created, r.Updated, r.Unchanged, r.Enabled, r.Disabled, r.Missing)
	fmt.Fprintf(w, "  would disable or start the grace of %d of %d active users (threshold %g%%)\n", r.WouldDisable, r.Active, r.MaxPercent)
	fmt.Fprintf(w, "  groups created %d, members added %d, removed %d\n", r.GroupsCreated, r.MembersAdded, r.MembersRemoved)
	fmt.Fprintf(w, "  skipped %d, conflicts %d\n", r.Skipped, r.Conflicts)
	for _, n := range r.Notes {
		fmt.Fprintf(w, "    %s: %s\n", n.DN, n.Reason)
	}
}

// newSCIMTokenCmd is `sekisho directory scim-token`: the bearer token of a SCIM connector.
func newSCIMTokenCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "scim-token", Short: "SCIM 2.0 provisioning connectors' bearer tokens (Entra ID's \"Secret Token\")"}
	issue := &cobra.Command{Use: "issue NAME", Short: "Issue the token of SCIM connector NAME (printed once; replaces its previous token)", Args: cobra.ExactArgs(1),
		Long: "Makes the bearer token of the SCIM connector NAME (lower-case letters, digits, hyphens). The users and groups it " +
			"provisions belong to it (source scim:NAME); it sees and changes nothing else. Issuing again replaces the token: " +
			"the old one stops working at once. Sekisho keeps only a keyed hash.",
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			t, err := in.Admin.IssueSCIMToken(cmd.Context(), cliActor(), args[0])
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "SCIM connector %s: tenant URL %s/scim/v2, secret token:\n\n%s\n\n", t.Connector, in.Config.BaseURL, t.Token)
			fmt.Fprintln(out, "It is shown this once. The policy decides where it may be used (application sekisho-scim, protocol scim).")
			return nil
		})}
	revoke := &cobra.Command{Use: "revoke NAME", Short: "Revoke the token of SCIM connector NAME at once (its users stay)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			t, err := in.Admin.RevokeSCIMToken(cmd.Context(), cliActor(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked the token of SCIM connector %s (%s)\n", t.Connector, t.ID)
			return nil
		})}
	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List SCIM connectors' tokens, revoked ones too", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			ts, err := in.Admin.ListSCIMTokens(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), ts)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CONNECTOR\tTOKEN ID\tISSUED\tLAST USED\tSTATE")
			for _, t := range ts {
				used, state := "never", "active"
				if !t.LastUsedAt.IsZero() {
					used = t.LastUsedAt.Format("2006-01-02 15:04") + " from " + t.LastIP
				}
				if !t.RevokedAt.IsZero() {
					state = "revoked " + t.RevokedAt.Format("2006-01-02")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.Connector, t.ID, t.CreatedAt.Format("2006-01-02"), used, state)
			}
			return tw.Flush()
		})}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(issue, revoke, list)
	return cmd
}
