package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store"
)

func init() { extraCommands = append(extraCommands, newMFACmd, newLockoutCmd) }

func newMFACmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "mfa", Short: "Users' second factors: status, reset, emergency codes"}
	status := &cobra.Command{Use: "status UPN", Short: "Show which second factors a user has", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, err := userByUPN(cmd, in, args[0])
			if err != nil {
				return err
			}
			st, err := in.Factors.Status(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: authenticator app %s, enrolment pending %s, emergency codes left %d\n",
				u.UPN, yesNo(st.TOTP), yesNo(st.Pending), st.EmergencyLeft)
			return nil
		})}
	reset := &cobra.Command{Use: "reset UPN", Short: "Remove all of a user's second factors (lost phone); ends their sessions", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, err := in.Admin.ResetFactors(cmd.Context(), cliActor(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "second factors of %s removed; they enrol again at /account/totp\n", u.UPN)
			return nil
		})}
	var count int
	codes := &cobra.Command{Use: "emergency-codes UPN", Short: "Issue single-use emergency codes (replaces earlier ones); shown once", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, cs, err := in.Admin.EmergencyCodes(cmd.Context(), cliActor(), args[0], count)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "emergency codes for %s (each works once; give them to the user out of band):\n%s\n", u.UPN, strings.Join(cs, "\n"))
			return nil
		})}
	codes.Flags().IntVar(&count, "count", 10, "how many codes")
	cmd.AddCommand(status, reset, codes)
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func newLockoutCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "lockout", Short: "Smart lockout: status and unlock"}
	status := &cobra.Command{Use: "status UPN", Short: "Show a user's lockout counters (JSON)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, err := userByUPN(cmd, in, args[0])
			if err != nil {
				return err
			}
			l := in.Lockout
			if l == nil {
				return fmt.Errorf("smart lockout is switched off (lockout.enabled in sekisho.yaml)")
			}
			st, err := l.Status(cmd.Context(), u.ID)
			if err != nil {
				return err
			}
			return writeJSON(cmd.OutOrStdout(), st)
		})}
	unlock := &cobra.Command{Use: "unlock UPN", Short: "Lift a user's lock on both sides (familiar and unfamiliar sources)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, err := in.Admin.Unlock(cmd.Context(), cliActor(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s unlocked\n", u.UPN)
			return nil
		})}
	cmd.AddCommand(status, unlock)
	return cmd
}

// userByUPN finds a user for a command, with the error the operator should see.
func userByUPN(cmd *cobra.Command, in *setup.Instance, upn string) (store.User, error) {
	u, err := in.Store.GetUserByUPN(cmd.Context(), upn)
	if err != nil {
		return store.User{}, fmt.Errorf("user %s: %w", upn, err)
	}
	return u, nil
}
