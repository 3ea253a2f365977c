package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/setup"
)

func init() { extraCommands = append(extraCommands, newDirectoryCmd) }

func newDirectoryCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "directory", Short: "Directory connectors (LDAP / Active Directory): sync users and groups"}
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
	cmd.AddCommand(sync)
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
