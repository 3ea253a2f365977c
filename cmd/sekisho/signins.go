package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/audit"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/ipset"
	"github.com/sekisho/sekisho/internal/store"
)

func init() { extraCommands = append(extraCommands, newSigninsCmd, newNetworkCmd) }

type signinFlags struct {
	since, until, user, app, client, decision, ip string
	limit                                         int
}

func (f *signinFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.since, "since", "1d", "how far back (e.g. 30d, 12h) or an RFC 3339 time")
	fl.StringVar(&f.until, "until", "", "end (RFC 3339), exclusive")
	fl.StringVar(&f.user, "user", "", "user name")
	fl.StringVar(&f.app, "app", "", "application")
	fl.StringVar(&f.client, "client", "", "client type")
	fl.StringVar(&f.decision, "decision", "", "allow, deny, mfa_required, device_required, error")
	fl.StringVar(&f.ip, "ip", "", "IP address (effective, peer or forwarded)")
	fl.IntVar(&f.limit, "limit", 0, "at most this many records")
}

func parseSince(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--since %q: use a duration such as 30d or an RFC 3339 time", s)
	}
	return time.Now().Add(-d), nil
}

func (f *signinFlags) filter() (store.SignInFilter, error) {
	since, err := parseSince(f.since)
	if err != nil {
		return store.SignInFilter{}, err
	}
	sf := store.SignInFilter{Since: since, Username: f.user, Application: f.app, ClientType: f.client, Decision: f.decision, Limit: f.limit}
	if f.until != "" {
		if sf.Until, err = time.Parse(time.RFC3339, f.until); err != nil {
			return sf, fmt.Errorf("--until %q is not an RFC 3339 time", f.until)
		}
	}
	if f.ip != "" {
		a, err := netip.ParseAddr(f.ip)
		if err != nil {
			return sf, fmt.Errorf("--ip %q is not an IP address", f.ip)
		}
		sf.IP = a.Unmap().String()
	}
	return sf, nil
}

func newSigninsCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "signins", Short: "Query and export the sign-in log"}
	var lf signinFlags
	list := &cobra.Command{Use: "list", Short: "List sign-ins", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			f, err := lf.filter()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TIME\tUSER\tAPP\tCLIENT\tIP\tDECISION\tRULE/REASON\tID")
			err = in.Store.EachSignIn(cmd.Context(), f, func(e store.SignInEvent) error {
				client := e.ClientType
				if e.LegacyApp != "" {
					client += "/" + e.LegacyApp
				}
				why := e.Rule
				if why == "" {
					why = e.Reason
				}
				if e.ForgedHeaders {
					why += " [forged headers ignored]"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.Local().Format("2006-01-02 15:04:05"), e.Username, e.Application,
					client, e.EffectiveIP, e.Decision, why, e.ID)
				return nil
			})
			if err != nil {
				return err
			}
			return tw.Flush()
		})}
	lf.register(list)
	var ef signinFlags
	var format, out string
	export := &cobra.Command{Use: "export", Short: "Export sign-ins as CSV or JSON", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			f, err := ef.filter()
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if out != "" {
				fh, err := os.Create(out)
				if err != nil {
					return fmt.Errorf("create %s: %w", out, err)
				}
				defer fh.Close()
				bw := bufio.NewWriter(fh)
				defer bw.Flush()
				w = bw
			}
			n, err := audit.Export(cmd.Context(), in.Store, f, format, w)
			if err != nil {
				return err
			}
			if out != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "exported %d sign-ins to %s\n", n, out)
			}
			return nil
		})}
	ef.register(export)
	export.Flags().StringVar(&format, "format", "csv", "csv or json")
	export.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	prune := &cobra.Command{Use: "prune", Short: "Delete sign-ins older than the configured retention", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			n, err := audit.NewRecorder(in.Store, in.Log).Prune(cmd.Context(), in.Config.SignIns.Retention.D())
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %d sign-ins older than %s\n", n, in.Config.SignIns.Retention.D())
			return nil
		})}
	cmd.AddCommand(list, export, prune)
	return cmd
}

func newNetworkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Named networks (office ranges, Exchange Online egress ranges)"}
	var desc, file string
	set := &cobra.Command{Use: "set NAME [CIDR...]", Short: "Create or replace a network (CIDRs as arguments or --file, one per line)",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cidrs := args[1:]
			if file != "" {
				b, err := os.ReadFile(file)
				if err != nil {
					return fmt.Errorf("read %s: %w", file, err)
				}
				for i, l := range strings.Split(string(b), "\n") {
					l = strings.TrimSpace(strings.SplitN(l, "#", 2)[0])
					if l == "" {
						continue
					}
					if _, err := ipset.ParsePrefix(l); err != nil {
						return fmt.Errorf("%s:%d: %q is not an IP address or CIDR", file, i+1, l)
					}
					cidrs = append(cidrs, l)
				}
			}
			for _, c := range cidrs {
				if _, err := ipset.ParsePrefix(c); err != nil {
					return fmt.Errorf("%q is not an IP address or CIDR", c)
				}
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			if err := in.Admin.SetNetwork(cmd.Context(), cliActor(), args[0], desc, cidrs); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "network %s: %d ranges\n", args[0], len(cidrs))
			return nil
		}}
	set.Flags().StringVar(&desc, "description", "", "what the network is")
	set.Flags().StringVar(&file, "file", "", "read CIDRs from this file")
	list := &cobra.Command{Use: "list", Short: "List networks", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			ns, err := in.Store.ListNetworks(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NETWORK\tRANGES\tDESCRIPTION")
			for _, n := range ns {
				shown := strings.Join(n.CIDRs, ",")
				if len(n.CIDRs) > 4 {
					shown = strings.Join(n.CIDRs[:4], ",") + fmt.Sprintf(",… (%d)", len(n.CIDRs))
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Name, shown, n.Description)
			}
			return tw.Flush()
		})}
	del := &cobra.Command{Use: "delete NAME", Short: "Delete a network", Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			if err := in.Admin.DeleteNetwork(cmd.Context(), cliActor(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted network %s\n", args[0])
			return nil
		})}
	cmd.AddCommand(set, list, del)
	return cmd
}
