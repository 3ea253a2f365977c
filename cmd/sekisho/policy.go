package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/simulate"
	"github.com/sekisho/sekisho/internal/store"
)

func init() { extraCommands = append(extraCommands, newPolicyCmd) }

func newPolicyCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Show, change, version, test and replay the access policy (docs/policy.md)"}
	cmd.AddCommand(policyShow(g), policyExport(g), policyImport(g), policyEdit(g), policyHistory(g), policyRollback(g),
		policyTest(g), policyReplay(g))
	return cmd
}

// cliActor is who a change made with the CLI is recorded as: SEKISHO_ADMIN when set (the
// administrator's name), else the operating-system user running the command.
func cliActor() admin.Actor {
	if a := os.Getenv("SEKISHO_ADMIN"); a != "" {
		return admin.Actor{Name: a, Via: "cli"}
	}
	if u, err := user.Current(); err == nil {
		return admin.Actor{Name: "os:" + u.Username, Via: "cli"}
	}
	return admin.Actor{Name: "os:unknown", Via: "cli"}
}

func policyShow(g *globals) *cobra.Command {
	return &cobra.Command{Use: "show", Short: "Print the policy in force with its version", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			v, err := in.Store.LatestPolicyVersion(cmd.Context())
			if errors.Is(err, store.ErrNotFound) {
				return errors.New("no policy is stored: every sign-in is denied; import one with `sekisho policy import FILE`")
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "# version %d by %s at %s: %s\n", v.Version, v.Author, v.CreatedAt.Format(time.RFC3339), v.Comment)
			_, err = cmd.OutOrStdout().Write(v.Document)
			return err
		})}
}

func policyExport(g *globals) *cobra.Command {
	var version int64
	cmd := &cobra.Command{Use: "export", Short: "Write the policy YAML (latest or --version N) to standard output", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			var err error
			var v store.PolicyVersion
			if version > 0 {
				v, err = in.Store.GetPolicyVersion(cmd.Context(), version)
			} else {
				v, err = in.Store.LatestPolicyVersion(cmd.Context())
			}
			if err != nil {
				return fmt.Errorf("policy version: %w", err)
			}
			_, err = cmd.OutOrStdout().Write(v.Document)
			return err
		})}
	cmd.Flags().Int64Var(&version, "version", 0, "version to export (default: latest)")
	return cmd
}

// addVersion validates doc against the stored networks and publishes it as a new version.
func addVersion(ctx context.Context, in *setup.Instance, file string, doc []byte, comment string) (store.PolicyVersion, error) {
	return in.Admin.PublishPolicy(ctx, cliActor(), file, doc, comment)
}

func policyImport(g *globals) *cobra.Command {
	var comment string
	cmd := &cobra.Command{Use: "import FILE", Short: "Validate FILE and make it the policy in force (a new version)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read policy: %w", err)
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			if comment == "" {
				comment = "imported from " + filepath.Base(args[0])
			}
			v, err := addVersion(cmd.Context(), in, args[0], doc, comment)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy version %d is in force\n", v.Version)
			return nil
		}}
	cmd.Flags().StringVar(&comment, "comment", "", "why the policy changes (kept in the history)")
	return cmd
}

func policyEdit(g *globals) *cobra.Command {
	var comment string
	cmd := &cobra.Command{Use: "edit", Short: "Edit the policy in $EDITOR; saved only when it validates", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			in, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer in.Close()
			cur, err := in.Store.LatestPolicyVersion(ctx)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			f, err := os.CreateTemp("", "sekisho-policy-*.yaml")
			if err != nil {
				return err
			}
			defer os.Remove(f.Name())
			if _, err := f.Write(cur.Document); err != nil {
				return err
			}
			f.Close()
			editor := os.Getenv("EDITOR")
			if editor == "" {
				editor = "vi"
			}
			for {
				c := exec.CommandContext(ctx, "sh", "-c", editor+` "$1"`, "editor", f.Name())
				c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := c.Run(); err != nil {
					return fmt.Errorf("editor %s: %w", editor, err)
				}
				doc, err := os.ReadFile(f.Name())
				if err != nil {
					return err
				}
				if bytes.Equal(doc, cur.Document) {
					fmt.Fprintln(cmd.OutOrStdout(), "no change")
					return nil
				}
				v, err := addVersion(ctx, in, "policy.yaml", doc, comment)
				if err == nil {
					fmt.Fprintf(cmd.OutOrStdout(), "policy version %d is in force\n", v.Version)
					return nil
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "%v\nEdit again? [Y/n] ", err)
				var ans string
				fmt.Fscanln(cmd.InOrStdin(), &ans)
				if strings.HasPrefix(strings.ToLower(ans), "n") {
					return errors.New("policy not changed")
				}
			}
		}}
	cmd.Flags().StringVar(&comment, "comment", "edited", "why the policy changes")
	return cmd
}

func policyHistory(g *globals) *cobra.Command {
	return &cobra.Command{Use: "history", Short: "List policy versions, newest first", Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			vs, err := in.Store.ListPolicyVersions(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "VERSION\tTIME\tAUTHOR\tCOMMENT")
			for _, v := range vs {
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.Version, v.CreatedAt.Format(time.RFC3339), v.Author, v.Comment)
			}
			return tw.Flush()
		})}
}

func policyRollback(g *globals) *cobra.Command {
	return &cobra.Command{Use: "rollback VERSION", Short: "Put an earlier version back in force (as a new version)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("%q is not a version number", args[0])
			}
			in, err := g.open(cmd.Context())
			if err != nil {
				return err
			}
			defer in.Close()
			if _, err := in.Store.GetPolicyVersion(cmd.Context(), n); err != nil {
				return fmt.Errorf("policy version %d: %w", n, err)
			}
			v, err := in.Admin.RollbackPolicy(cmd.Context(), cliActor(), n)
			if err != nil {
				return fmt.Errorf("version %d no longer validates against the stored networks: %w", n, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy version %d (a copy of %d) is in force\n", v.Version, n)
			return nil
		}}
}

func policyTest(g *globals) *cobra.Command {
	var upn, app, ipStr, client, legacy, protocol, at, format, lang, draft string
	var deviceCert, mfa bool
	cmd := &cobra.Command{Use: "test", Short: "Simulate one sign-in and explain the decision", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			ip, err := netip.ParseAddr(ipStr)
			if err != nil {
				return fmt.Errorf("--ip %q is not an IP address", ipStr)
			}
			when := time.Now()
			if at != "" {
				if when, err = time.Parse(time.RFC3339, at); err != nil {
					return fmt.Errorf("--at %q is not an RFC 3339 time such as 2026-12-01T09:00:00+09:00", at)
				}
			}
			in, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer in.Close()
			comp, err := loadForTest(ctx, in, draft)
			if err != nil {
				return err
			}
			var groups []string
			if u, err := in.Store.GetUserByUPN(ctx, upn); err == nil {
				groups = u.Groups
			}
			d := comp.Policy.Evaluate(policy.Input{User: upn, Groups: groups, Application: app, Protocol: protocol,
				ClientType: client, LegacyApp: legacy, IP: ip.Unmap(), MFA: mfa, Time: when,
				Device: policy.Device{Present: deviceCert, Valid: deviceCert, BoundToUser: deviceCert}})
			if format == "json" {
				return writeJSON(cmd.OutOrStdout(), map[string]any{"decision": d.Action.Decision(), "action": d.Action,
					"rule": d.Rule, "breakGlass": d.BreakGlass, "policyVersion": comp.Version, "groups": groups,
					"insideNetworks": comp.Inside(ip.Unmap()), "trace": d.Trace})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "decision: %s (rule %s, policy version %d)\n", d.Action.Decision(), d.Rule, comp.Version)
			fmt.Fprintln(cmd.OutOrStdout(), d.Trace.Text(lang))
			return nil
		}}
	f := cmd.Flags()
	f.StringVar(&upn, "user", "", "user principal name (groups are read from the directory)")
	f.StringVar(&app, "app", "", "application name")
	f.StringVar(&ipStr, "ip", "", "client IP address")
	f.StringVar(&client, "client", "browser", "client type: browser, rich-client, legacy-proxied, active-direct, oidc, bridge-imap|pop|smtp")
	f.StringVar(&legacy, "legacy-app", "", "Exchange client application (ActiveSync, Imap, Pop, SMTP, WebServices…)")
	f.StringVar(&protocol, "protocol", "", "protocol (saml, wsfed, wstrust, oidc)")
	f.BoolVar(&deviceCert, "device-cert", false, "a valid device certificate of this user was presented")
	f.BoolVar(&mfa, "mfa", false, "a second factor was already used")
	f.StringVar(&at, "at", "", "time of the sign-in (RFC 3339; default now)")
	f.StringVar(&format, "format", "text", "text or json")
	f.StringVar(&lang, "lang", "en", "language of the explanation: en or ja")
	f.StringVar(&draft, "draft", "", "evaluate this policy file instead of the one in force")
	_ = cmd.MarkFlagRequired("user")
	_ = cmd.MarkFlagRequired("ip")
	return cmd
}

func loadForTest(ctx context.Context, in *setup.Instance, draft string) (*published.Compiled, error) {
	var doc []byte
	if draft != "" {
		b, err := os.ReadFile(draft)
		if err != nil {
			return nil, fmt.Errorf("read draft: %w", err)
		}
		doc = b
	}
	comp, err := simulate.Compile(ctx, in.Store, draft, doc)
	if errors.Is(err, simulate.ErrNoPolicy) {
		return nil, errors.New("no policy is stored; pass --draft FILE or import one")
	}
	return comp, err
}

func policyReplay(g *globals) *cobra.Command {
	var since, draft, format string
	cmd := &cobra.Command{Use: "replay --draft FILE", Short: "Re-evaluate recorded sign-ins against a draft policy and list changed outcomes", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if draft == "" {
				return errors.New("--draft FILE is required")
			}
			d, err := config.ParseDuration(since)
			if err != nil {
				return fmt.Errorf("--since: %w", err)
			}
			in, err := g.open(ctx)
			if err != nil {
				return err
			}
			defer in.Close()
			comp, err := loadForTest(ctx, in, draft)
			if err != nil {
				return err
			}
			res, err := simulate.ReplayStored(ctx, in.Store, comp.Policy, time.Now().Add(-d))
			if err != nil {
				return err
			}
			return writeReplay(cmd.OutOrStdout(), res, format)
		}}
	cmd.Flags().StringVar(&since, "since", "30d", "how far back to replay (e.g. 7d, 12h)")
	cmd.Flags().StringVar(&draft, "draft", "", "draft policy file")
	cmd.Flags().StringVar(&format, "format", "text", "text, json or csv")
	return cmd
}

func writeReplay(w io.Writer, res simulate.Result, format string) error {
	switch format {
	case "json":
		return writeJSON(w, res)
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"user", "application", "client_type", "legacy_app", "from", "to", "change", "count", "new_rule", "example_id"})
		for _, r := range res.Rows {
			cw.Write([]string{r.User, r.Application, r.ClientType, r.LegacyApp, r.From, r.To, r.Change, strconv.Itoa(r.Count), r.NewRule, r.ExampleID})
		}
		cw.Flush()
		return cw.Error()
	case "text":
		fmt.Fprintf(w, "replayed %d sign-ins (%d not decided by policy); %d would change\n", res.Evaluated, res.Skipped, res.Changed)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "CHANGE\tCOUNT\tUSER\tAPPLICATION\tCLIENT\tNEW RULE")
		for _, r := range res.Rows {
			client := r.ClientType
			if r.LegacyApp != "" {
				client += "/" + r.LegacyApp
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", r.Change, r.Count, r.User, r.Application, client, r.NewRule)
		}
		return tw.Flush()
	}
	return fmt.Errorf("unknown format %q; use text, json or csv", format)
}
