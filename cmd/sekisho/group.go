package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
)

func newGroupCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Manage groups"}
	var desc string
	add := &cobra.Command{Use: "add NAME", Short: "Create a group", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			name := strings.TrimSpace(args[0])
			if name == "" || strings.ContainsAny(name, ",\n") {
				return fmt.Errorf("%q is not a valid group name", args[0])
			}
			if err := in.Admin.AddGroup(cmd.Context(), cliActor(), name, desc); err != nil {
				return fmt.Errorf("create group %s: %w", name, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created group %s\n", name)
			return nil
		})}
	add.Flags().StringVar(&desc, "description", "", "what the group is for")
	list := &cobra.Command{Use: "list", Short: "List groups with their members", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			gs, err := in.Store.ListGroups(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "GROUP\tMEMBERS\tDESCRIPTION")
			for _, gr := range gs {
				ms, err := in.Store.ListMembers(cmd.Context(), gr.Name)
				if err != nil {
					return err
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\n", gr.Name, len(ms), gr.Description)
			}
			return tw.Flush()
		})}
	member := func(use string, add bool) *cobra.Command {
		return &cobra.Command{Use: use + " GROUP UPN", Short: map[bool]string{true: "Add a user to a group", false: "Remove a user from a group"}[add],
			Args: cobra.ExactArgs(2),
			RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
				if err := in.Admin.SetMember(cmd.Context(), cliActor(), args[0], args[1], add); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s: %s %s\n", args[0], use, args[1])
				return nil
			})}
	}
	cmd.AddCommand(add, list, member("add-member", true), member("remove-member", false))
	return cmd
}
