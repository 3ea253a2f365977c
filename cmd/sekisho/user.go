package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

func newUserCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Manage users"}
	cmd.AddCommand(userAdd(g), userList(g), userShow(g), userSetPassword(g), userStatus(g, "disable", store.UserDisabled),
		userStatus(g, "enable", store.UserActive), userDelete(g), userImport(g))
	return cmd
}

// readPassword reads one line from stdin (for --password-stdin).
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("no password on standard input")
	}
	return pw, nil
}

func userAdd(g *globals) *cobra.Command {
	var nu directory.NewUser
	var pwStdin bool
	cmd := &cobra.Command{Use: "add UPN", Short: "Create a user", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nu.UPN = args[0]
			if pwStdin {
				pw, err := readPassword(cmd.InOrStdin())
				if err != nil {
					return err
				}
				nu.Password = pw
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			u, err := in.Admin.AddUser(cmd.Context(), cliActor(), nu)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s (ImmutableID %s)\n", u.UPN, u.ImmutableID)
			return nil
		}}
	f := cmd.Flags()
	f.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	f.BoolVar(&nu.Temporary, "temporary", false, "the user must choose a new password at the first sign-in")
	f.StringVar(&nu.ImmutableID, "immutable-id", "", "Microsoft 365 ImmutableID (default: base64 of 16 random bytes)")
	f.StringVar(&nu.DisplayName, "display-name", "", "display name")
	f.StringVar(&nu.Email, "email", "", "email address")
	f.StringSliceVar(&nu.Groups, "group", nil, "group to add the user to (repeatable)")
	return cmd
}

func userList(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			var all []store.User
			page := store.Page{Limit: 500}
			for {
				us, next, err := in.Store.ListUsers(cmd.Context(), page)
				if err != nil {
					return err
				}
				all = append(all, us...)
				if next == "" {
					break
				}
				page.After = next
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), publicUsers(all))
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "UPN\tNAME\tSTATUS\tIMMUTABLE ID\tGROUPS")
			for _, u := range all {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.UPN, u.DisplayName, u.Status, u.ImmutableID, strings.Join(u.Groups, ","))
			}
			return tw.Flush()
		})}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

type publicUser struct {
	ID          string   `json:"id"`
	UPN         string   `json:"upn"`
	DisplayName string   `json:"displayName"`
	Email       string   `json:"email,omitempty"`
	ImmutableID string   `json:"immutableId"`
	Status      string   `json:"status"`
	Groups      []string `json:"groups"`
	HasPassword bool     `json:"hasPassword"`
	// MustChangePassword: the password was handed over and is replaced at the next sign-in.
	MustChangePassword bool   `json:"mustChangePassword,omitempty"`
	CreatedAt          string `json:"createdAt"`
	UpdatedAt          string `json:"updatedAt"`
}

func publicUsers(us []store.User) []publicUser {
	out := make([]publicUser, len(us))
	for i, u := range us {
		out[i] = publicUser{ID: u.ID, UPN: u.UPN, DisplayName: u.DisplayName, Email: u.Email, ImmutableID: u.ImmutableID,
			Status: string(u.Status), Groups: u.Groups, HasPassword: u.PasswordHash != "", MustChangePassword: u.PasswordChangeRequired,
			CreatedAt: u.CreatedAt.Format("2006-01-02T15:04:05Z07:00"), UpdatedAt: u.UpdatedAt.Format("2006-01-02T15:04:05Z07:00")}
		if out[i].Groups == nil {
			out[i].Groups = []string{}
		}
	}
	return out
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func userShow(g *globals) *cobra.Command {
	return &cobra.Command{Use: "show UPN", Short: "Show one user (JSON)", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			u, err := in.Store.GetUserByUPN(cmd.Context(), args[0])
			if err != nil {
				return fmt.Errorf("user %s: %w", args[0], err)
			}
			return writeJSON(cmd.OutOrStdout(), publicUsers([]store.User{u})[0])
		})}
}

func userSetPassword(g *globals) *cobra.Command {
	var temporary bool
	cmd := &cobra.Command{Use: "set-password UPN", Short: "Set a user's password (read from standard input); ends the user's sessions",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd.InOrStdin())
			if err != nil {
				return err
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			if err := in.Admin.SetPassword(cmd.Context(), cliActor(), args[0], pw, temporary); err != nil {
				return err
			}
			msg := "password of %s changed\n"
			if temporary {
				msg = "password of %s changed; it must be replaced at the next sign-in\n"
			}
			fmt.Fprintf(cmd.OutOrStdout(), msg, args[0])
			return nil
		}}
	cmd.Flags().Bool("password-stdin", true, "read the password from standard input (always on)")
	cmd.Flags().BoolVar(&temporary, "temporary", false, "the user must choose a new password at the next sign-in")
	return cmd
}

func userStatus(g *globals, verb string, status store.UserStatus) *cobra.Command {
	return &cobra.Command{Use: verb + " UPN", Short: strings.ToUpper(verb[:1]) + verb[1:] + " a user", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.SetStatus(cmd.Context(), cliActor(), args[0], status); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s is now %s\n", args[0], status)
			return nil
		})}
}

func userDelete(g *globals) *cobra.Command {
	return &cobra.Command{Use: "delete UPN", Short: "Delete a user and end their sessions", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.DeleteUser(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s\n", args[0])
			return nil
		})}
}

func userImport(g *globals) *cobra.Command {
	var csvPath string
	var groups []string
	cmd := &cobra.Command{Use: "import --csv FILE", Short: "Import users from an Entra ID user export (CSV)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if csvPath == "" {
				return errors.New("--csv FILE is required")
			}
			f, err := os.Open(csvPath)
			if err != nil {
				return fmt.Errorf("open CSV: %w", err)
			}
			defer f.Close()
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			res, err := in.Admin.ImportUsers(cmd.Context(), cliActor(), f, groups)
			out := cmd.OutOrStdout()
			counts := map[string]int{}
			for _, r := range res {
				counts[r.Action]++
				fmt.Fprintf(out, "line %d: %s %s: %s\n", r.Line, r.Action, r.UPN, r.Detail)
			}
			fmt.Fprintf(out, "created %d, skipped %d, errors %d\n", counts["created"], counts["skipped"], counts["error"])
			if err != nil {
				return err
			}
			if counts["error"] > 0 {
				return fmt.Errorf("%d rows were not imported; see the lines above", counts["error"])
			}
			return nil
		}}
	cmd.Flags().StringVar(&csvPath, "csv", "", "CSV file with userPrincipalName, displayName, mail, onPremisesImmutableId")
	cmd.Flags().StringSliceVar(&groups, "group", nil, "add every imported user to this group")
	return cmd
}
