package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
)

func newInitCmd(g *globals) *cobra.Command {
	var opts setup.InitOptions
	cmd := &cobra.Command{Use: "init", Short: "Create a data folder: config, master key, signing and TLS keys", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			res, err := setup.Init(cmd.Context(), g.dataDir, opts, os.Stderr)
			if err != nil {
				return err
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			printInit(cmd.OutOrStdout(), res, in.Config.BaseURL)
			return nil
		}}
	cmd.Flags().BoolVar(&opts.Demo, "demo", false, "also create a demo tenant (example.com users, groups, office network, policy)")
	cmd.Flags().StringVar(&opts.Listen, "listen", "", "address to serve HTTPS on (written to the config)")
	cmd.Flags().StringVar(&opts.BaseURL, "base-url", "", "public https URL (written to the config)")
	return cmd
}

func printInit(w io.Writer, res setup.InitResult, baseURL string) {
	fmt.Fprintf(w, "Initialised %s\n", res.DataDir)
	fmt.Fprintf(w, "  CA certificate (trust it in clients): %s\n", res.CAFile)
	if res.AdminPassword != "" {
		fmt.Fprintf(w, "\nDemo tenant example.com created.\n")
		fmt.Fprintf(w, "  Admin console:   %s/admin/\n", baseURL)
		fmt.Fprintf(w, "  Admin user:      %s\n", res.AdminUPN)
		fmt.Fprintf(w, "  Admin password:  %s   (one-time: you choose a new one at the first sign-in)\n", res.AdminPassword)
		fmt.Fprintf(w, "  Demo users (passwords shown once):\n")
		for _, u := range res.DemoUsers {
			fmt.Fprintf(w, "    %-20s %s\n", u.UPN, u.Password)
		}
	}
}
