package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/bridge/oauthtokens"
	"github.com/sekisho/sekisho/internal/setup"
)

// newBridgeUpstreamCmd is `sekisho bridge upstream`: the users' mailboxes connected to the
// upstream token service (docs/mail-bridge-upstream.md).
func newBridgeUpstreamCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "upstream", Short: "Users' mailboxes connected to the mail server's token service (bridge.upstream.tokens: oauth, microsoft365)"}
	// withSource gives the admin service the configured token source.
	withSource := func(fn func(cmd *cobra.Command, in *setup.Instance) error) func(*cobra.Command, []string) error {
		return g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			src, err := oauthtokens.FromConfig(in.Config.Bridge, in.Config.Resolve, in.Store, in.Sealer, in.Log)
			if err != nil {
				return err
			}
			in.Admin.BridgeUpstream = src
			return fn(cmd, in)
		})
	}

	var user string
	connect := &cobra.Command{Use: "connect", Short: "Connect a user's mailbox: sign in as the user at the token service with a device code", Args: cobra.NoArgs,
		Long: "Starts the device authorization grant at the token service and prints where to go and the code to enter. " +
			"Whoever can sign in as the user there (the user, or an administrator with the user's credentials) opens the " +
			"address on any device, enters the code and consents; the command waits for that, then stores the grant " +
			"(refresh token sealed with the master key). Connecting again replaces the grant.",
		RunE: withSource(func(cmd *cobra.Command, in *setup.Instance) error {
			out := cmd.OutOrStdout()
			v, err := in.Admin.ConnectBridgeUpstream(cmd.Context(), cliActor(), user, func(d oauthtokens.DeviceCode) error {
				fmt.Fprintf(out, "To connect the mailbox of %s, sign in as %s at\n\n    %s\n\nand enter the code %s", user, user, d.VerificationURI, d.UserCode)
				if !d.Expiry.IsZero() {
					fmt.Fprintf(out, " (valid until %s)", d.Expiry.Local().Format("15:04"))
				}
				fmt.Fprintln(out, ".")
				if d.VerificationURIComplete != "" && d.VerificationURIComplete != d.VerificationURI {
					fmt.Fprintf(out, "Or open %s (the code filled in).\n", d.VerificationURIComplete)
				}
				fmt.Fprintln(out, "Waiting for the sign-in…")
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "connected the mailbox of %s (profile %s; %s)\n", v.User, v.Profile, strings.Join(v.Scopes, " "))
			return nil
		})}
	connect.Flags().StringVar(&user, "user", "", "UPN of the mailbox's user (required)")
	_ = connect.MarkFlagRequired("user")

	var asJSON bool
	list := &cobra.Command{Use: "list", Short: "List the connected mailboxes: when and by whom, the last refresh, and broken grants", Args: cobra.NoArgs,
		RunE: withSource(func(cmd *cobra.Command, in *setup.Instance) error {
			vs, err := in.Admin.ListBridgeUpstream(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), vs)
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tPROFILE\tCONNECTED\tBY\tLAST REFRESH\tSTATE")
			for _, v := range vs {
				refreshed := "never"
				if !v.RefreshedAt.IsZero() {
					refreshed = v.RefreshedAt.Local().Format("2006-01-02 15:04")
				}
				state := v.State()
				if v.Broken != "" {
					state += ": " + v.Broken
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", v.User, v.Profile, v.ConnectedAt.Local().Format("2006-01-02 15:04"), v.ConnectedBy, refreshed, state)
			}
			return tw.Flush()
		})}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var discUser string
	disconnect := &cobra.Command{Use: "disconnect", Short: "Forget a user's mailbox grant: the bridge's logins for the user are refused until it is connected again", Args: cobra.NoArgs,
		RunE: withSource(func(cmd *cobra.Command, in *setup.Instance) error {
			v, err := in.Admin.DisconnectBridgeUpstream(cmd.Context(), cliActor(), discUser)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "disconnected the mailbox of %s (profile %s)\n", v.User, v.Profile)
			return nil
		})}
	disconnect.Flags().StringVar(&discUser, "user", "", "UPN of the user (required)")
	_ = disconnect.MarkFlagRequired("user")
	cmd.AddCommand(connect, list, disconnect)
	return cmd
}
