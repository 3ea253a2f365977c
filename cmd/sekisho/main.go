// Command sekisho is the single Sekisho binary: the server and every administration command.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

type globals struct {
	dataDir string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot().ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sekisho: "+err.Error())
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:           "sekisho",
		Short:         "Sekisho (関所) — an access-control identity provider for Microsoft 365 and other SaaS",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&g.dataDir, "data", "./sekisho-data", "data folder holding sekisho.yaml, the embedded database and the master key")
	root.AddCommand(
		newInitCmd(g), newServeCmd(g), newUserCmd(g), newGroupCmd(g), newMigrateCmd(g), newVersionCmd(), newKeysCmd(g),
	)
	for _, extra := range extraCommands {
		root.AddCommand(extra(g))
	}
	return root
}

// extraCommands lets command files register themselves without editing newRoot.
var extraCommands []func(*globals) *cobra.Command

// open opens the instance in the data folder, logging to stderr.
func (g *globals) open(ctx context.Context) (*setup.Instance, error) {
	if !setup.IsInitialised(g.dataDir) {
		return nil, fmt.Errorf("%s is not a Sekisho data folder: run `sekisho init --data %s` first", g.dataDir, g.dataDir)
	}
	return setup.Open(ctx, g.dataDir, os.Stderr)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print the version", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "sekisho", version)
			return nil
		}}
}

func newMigrateCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "migrate", Short: "Apply pending database migrations", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			n, err := setup.Migrate(cmd.Context(), in.Store)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "migrations applied: %d (schema up to date)\n", n)
			return nil
		})}
}

// withInstance wraps a command body that needs the opened data folder, closing it after.
func (g *globals) withInstance(fn func(cmd *cobra.Command, args []string, in *setup.Instance) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		in, err := g.open(cmd.Context())
		if err != nil {
			return err
		}
		defer in.Close()
		return fn(cmd, args, in)
	}
}
