package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
)

func init() { extraCommands = append(extraCommands, newAuditCmd) }

// auditRow is one admin audit entry as `audit list --json` prints it.
type auditRow struct {
	ID     string `json:"id"`
	Time   string `json:"time"`
	Actor  string `json:"actor"`
	Via    string `json:"via"`
	Action string `json:"action"`
	Target string `json:"target"`
	Before any    `json:"before"`
	After  any    `json:"after"`
}

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The admin audit log: every change made with the CLI, the console or the API"}
	var since, actor, action, target string
	var limit int
	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List admin changes, oldest first", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			from, err := parseSince(since)
			if err != nil {
				return err
			}
			evs, err := in.Admin.Log(cmd.Context(), store.AdminEventFilter{Since: from, Actor: actor, Action: action, Target: target, Limit: limit})
			if err != nil {
				return err
			}
			if asJSON {
				rows := make([]auditRow, 0, len(evs))
				for _, e := range evs {
					rows = append(rows, auditRow{ID: e.ID, Time: e.Time.UTC().Format("2006-01-02T15:04:05.000000Z"), Actor: e.Actor, Via: e.Via,
						Action: e.Action, Target: e.Target, Before: rawJSON(e.Before), After: rawJSON(e.After)})
				}
				return writeJSON(cmd.OutOrStdout(), rows)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tACTOR\tVIA\tACTION\tTARGET")
			for _, e := range evs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04:05"), e.Actor, e.Via, e.Action, e.Target)
			}
			return tw.Flush()
		})}
	f := list.Flags()
	f.StringVar(&since, "since", "30d", "how far back (e.g. 30d, 12h) or an RFC 3339 time")
	f.StringVar(&actor, "actor", "", "who made the change (UPN, or os:USER for the CLI)")
	f.StringVar(&action, "action", "", `what was done: exact ("user.add") or a prefix ending in a dot ("user.")`)
	f.StringVar(&target, "target", "", "what was changed (UPN, network, group…)")
	f.IntVar(&limit, "limit", 0, "at most this many entries (the newest)")
	f.BoolVar(&asJSON, "json", false, "print JSON with the state before and after each change")
	cmd.AddCommand(list)
	return cmd
}

// rawJSON keeps a stored JSON document as it is in the output (nil stays null).
type rawJSONDoc []byte

func (r rawJSONDoc) MarshalJSON() ([]byte, error) { return []byte(r), nil }

func rawJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return rawJSONDoc(b)
}
