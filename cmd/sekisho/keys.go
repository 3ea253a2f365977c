package main

import (
	"crypto/sha256"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/keys"
)

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Token-signing keys: list, rotate (add next), promote (next becomes current), retire (drop old)"}
	list := &cobra.Command{Use: "list", Short: "List token-signing keys", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			ks, err := in.Keys.Keys(cmd.Context(), keys.PurposeToken)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATE\tSUBJECT\tNOT AFTER\tSHA-256 FINGERPRINT")
			for _, k := range ks {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%x\n", k.ID, k.State, k.Cert.Subject.CommonName, k.Cert.NotAfter.Format("2006-01-02"), sha256.Sum256(k.Cert.Raw))
			}
			return tw.Flush()
		})}
	rotate := &cobra.Command{Use: "rotate", Short: "Create the next signing key (published in metadata beside the current one)", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			k, err := in.Admin.RotateKey(cmd.Context(), cliActor())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "next key %s created; promote it once relying parties have read the new metadata\n", k.ID)
			return nil
		})}
	promote := &cobra.Command{Use: "promote", Short: "Make the next key current (relying parties already know it from the metadata)", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			if err := in.Admin.PromoteKey(cmd.Context(), cliActor()); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "next key is now current and signs every new token; the previous key is retired (no longer signs; remove it with sekisho keys retire)")
			return nil
		})}
	retire := &cobra.Command{Use: "retire", Short: "Remove retired keys from metadata and the store", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			n, err := in.Admin.RetireKeys(cmd.Context(), cliActor())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d retired key(s) removed\n", n)
			return nil
		})}
	cmd.AddCommand(list, rotate, promote, retire)
	return cmd
}
