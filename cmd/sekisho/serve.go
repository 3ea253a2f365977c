package main

import (
	"context"
	"fmt"
	"github.com/sekisho/sekisho/internal/console/roles"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/gctune"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/wiring"
)

func newServeCmd(g *globals) *cobra.Command {
	var demo bool
	var listen string
	cmd := &cobra.Command{Use: "serve", Short: "Run the identity provider (HTTPS)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			out := cmd.OutOrStdout()
			fresh := !setup.IsInitialised(g.dataDir)
			if fresh {
				if !demo {
					return fmt.Errorf("%s is not initialised: run `sekisho init --data %s`, or `sekisho serve --demo` to try Sekisho", g.dataDir, g.dataDir)
				}
				res, err := setup.Init(ctx, g.dataDir, setup.InitOptions{Demo: true, Listen: listen}, os.Stderr)
				if err != nil {
					return err
				}
				in, err := g.open(ctx)
				if err != nil {
					return err
				}
				printInit(out, res, in.Config.BaseURL)
				in.Close()
			}
			in, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer in.Close()
			if !fresh {
				printRestart(ctx, out, in, g.dataDir)
			}
			addr := in.Config.Listen
			if listen != "" {
				addr = listen
			}
			in.Log = in.Log.With("node", in.Config.NodeName())
			// Libraries that log through slog's default (zitadel/oidc) write to the same log.
			slog.SetDefault(in.Log)
			defer gctune.Start(uint64(in.Config.Node.GCHeadroomMiB)<<20, in.Log).Stop()
			// Nodes may start on an empty database at the same instant: the first keys are
			// made once, under a store lock.
			if _, err := in.EnsureKeys(ctx); err != nil {
				return err
			}
			svc, err := wiring.Build(ctx, in)
			if err != nil {
				return err
			}
			tlsCfg, err := svc.TLSConfig(ctx)
			if err != nil {
				return err
			}
			if err := startMetrics(ctx, svc, *in.Config, out); err != nil {
				return err
			}
			svc.Background(ctx)
			bridge, err := svc.StartMailBridge(ctx, tlsCfg)
			if err != nil {
				return err
			}
			for _, door := range bridge.Listening() {
				fmt.Fprintf(out, "mail bridge: %s\n", door)
			}
			return svc.Server.Serve(ctx, addr, tlsCfg, func(a net.Addr) {
				in.Log.Info("serving", "addr", a.String(), "base_url", in.Config.BaseURL, "store", in.Config.Store.Driver,
					"change_poll", in.Config.Node.ChangePoll.D().String())
				fmt.Fprintf(out, "Sekisho is serving on https://%s (base URL %s); Ctrl-C or SIGTERM stops it\n", a, in.Config.BaseURL)
			})
		}}
	cmd.Flags().BoolVar(&demo, "demo", false, "initialise an empty data folder with a demo tenant first")
	cmd.Flags().StringVar(&listen, "listen", "", "address to listen on (overrides the config)")
	return cmd
}

// startMetrics serves /metrics on its own listener (metrics.listen, loopback by default) and
// returns once it listens, or with the reason it cannot.
func startMetrics(ctx context.Context, svc *wiring.Services, cfg config.Config, out io.Writer) error {
	if cfg.Metrics.Listen == "" {
		return nil
	}
	token, err := cfg.MetricsToken()
	if err != nil {
		return err
	}
	up := make(chan net.Addr, 1)
	errc := make(chan error, 1)
	go func() {
		errc <- svc.Server.ServeMetrics(ctx, cfg.Metrics.Listen, token, func(a net.Addr) { up <- a })
	}()
	select {
	case a := <-up:
		auth := ""
		if token != "" {
			auth = " (bearer token required)"
		}
		fmt.Fprintf(out, "Metrics on http://%s/metrics%s\n", a, auth)
		go func() {
			if err := <-errc; err != nil {
				svc.Instance.Log.Error("metrics listener stopped", "err", err)
			}
		}()
		return nil
	case err := <-errc:
		return err
	}
}

// printRestart tells an operator starting an existing folder where things are and how to get
// back into the console: passwords are printed only when a folder is first initialised.
func printRestart(ctx context.Context, out io.Writer, in *setup.Instance, dataDir string) {
	base := in.Config.BaseURL
	fmt.Fprintf(out, "Using the existing data folder %s (passwords are shown only when a folder is first created).\n", dataDir)
	fmt.Fprintf(out, "  Sign-in page:   %s/login\n", base)
	admins, err := in.Store.ListMembers(ctx, roles.AdminGroup)
	names := make([]string, 0, len(admins))
	for _, u := range admins {
		names = append(names, u.UPN)
	}
	fmt.Fprintf(out, "  Admin console:  %s/admin/  (members of %s: %s)\n", base, roles.AdminGroup, strings.Join(names, ", "))
	who := "ADMIN-UPN"
	if err == nil && len(names) > 0 {
		who = names[0]
	}
	fmt.Fprintf(out, "  Lost the admin password?  sekisho user set-password %s --temporary --data %s  (reads it from standard input)\n", who, dataDir)
}
