package main

import (
	"crypto/sha256"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/keys"
)

// keyPurpose is the token-key purpose of an --alg value (keys.PurposeOf).
func keyPurpose(alg string) (string, error) {
	p, err := keys.PurposeOf(alg)
	if err != nil {
		return "", fmt.Errorf("--alg: %w", err)
	}
	return p, nil
}

func newKeysCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "keys", Short: "Token-signing keys: list, rotate (add next), promote (next becomes current), retire (drop old)",
		Long: "Token-signing keys. --alg RS256 (default) is the RSA key that signs SAML assertions, WS-Fed tokens and the " +
			"tokens of RS256 OpenID Connect clients; --alg ES256 the P-256 key of OpenID Connect clients set to ES256. " +
			"Each is rotated on its own: rotate, then promote once relying parties have read the new keys, then retire."}
	var alg string
	cmd.PersistentFlags().StringVar(&alg, "alg", "RS256", "which token key: RS256 or ES256")
	list := &cobra.Command{Use: "list", Short: "List token-signing keys", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			purpose, err := keyPurpose(alg)
			if err != nil {
				return err
			}
			ks, err := in.Keys.Keys(cmd.Context(), purpose)
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
			purpose, err := keyPurpose(alg)
			if err != nil {
				return err
			}
			k, err := in.Admin.RotateKeyOf(cmd.Context(), cliActor(), purpose)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "next key %s created; promote it once relying parties have read the new metadata\n", k.ID)
			return nil
		})}
	promote := &cobra.Command{Use: "promote", Short: "Make the next key current (relying parties already know it from the metadata)", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			purpose, err := keyPurpose(alg)
			if err != nil {
				return err
			}
			if err := in.Admin.PromoteKeyOf(cmd.Context(), cliActor(), purpose); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "next key is now current and signs every new token; the previous key is retired (no longer signs; remove it with sekisho keys retire)")
			return nil
		})}
	retire := &cobra.Command{Use: "retire", Short: "Remove retired keys from metadata and the store", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			purpose, err := keyPurpose(alg)
			if err != nil {
				return err
			}
			n, err := in.Admin.RetireKeysOf(cmd.Context(), cliActor(), purpose)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d retired key(s) removed\n", n)
			return nil
		})}
	cmd.AddCommand(list, rotate, promote, retire)
	return cmd
}
