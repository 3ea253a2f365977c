package main

import (
	"context"
	"encoding/csv"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/setup"
)

func init() { extraCommands = append(extraCommands, newDeviceCmd) }

func newDeviceCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "device", Short: "Issue, list, renew and revoke device certificates"}
	cmd.AddCommand(deviceIssue(g), deviceBulkIssue(g), deviceList(g), deviceShow(g), deviceRenew(g), deviceRevoke(g),
		deviceExport(g), deviceDownload(g), deviceCA(g), deviceCRL(g))
	return cmd
}

// withCA opens the instance and runs fn with its device CA.
func withCA(g *globals, cmd *cobra.Command, fn func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error) error {
	in, err := g.open(cmd.Context())
	if err != nil {
		return err
	}
	defer in.Close()
	return fn(cmd.Context(), in, in.Devices)
}

func printIssued(w io.Writer, in *setup.Instance, is admin.IssuedDevice) {
	d := is.Device
	fmt.Fprintf(w, "issued device certificate %q for %s (%s)\n", d.Name, is.User.UPN, d.Platform)
	fmt.Fprintf(w, "  id:                 %s\n  serial:             %s\n  valid until:        %s\n", d.ID, d.Serial, d.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "  download link:      %s%s%s\n", in.Config.BaseURL, devicecert.DownloadPath, is.Token)
	fmt.Fprintf(w, "  download token:     %s\n  one-time password:  %s\n", is.Token, is.Password)
	fmt.Fprintln(w, "Give the token and the password to the user by different channels; the package can be downloaded once.")
}

func days(n int) (time.Duration, error) {
	if n < 1 || n > 3650 {
		return 0, fmt.Errorf("--days %d: want 1 to 3650", n)
	}
	return time.Duration(n) * 24 * time.Hour, nil
}

func deviceIssue(g *globals) *cobra.Command {
	var upn, name, platform string
	var nDays int
	cmd := &cobra.Command{Use: "issue", Short: "Issue a certificate for one user's device; prints the download token and one-time password",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			validity, err := days(nDays)
			if err != nil {
				return err
			}
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, _ *devicecert.CA) error {
				is, err := in.Admin.IssueDevice(ctx, cliActor(), upn, name, platform, validity)
				if err != nil {
					return err
				}
				printIssued(cmd.OutOrStdout(), in, is)
				return nil
			})
		}}
	cmd.Flags().StringVar(&upn, "user", "", "user principal name (required)")
	cmd.Flags().StringVar(&name, "name", "", "device name, e.g. \"Alice's laptop\" (required)")
	cmd.Flags().StringVar(&platform, "platform", "", "windows, macos, ios or android (required)")
	cmd.Flags().IntVar(&nDays, "days", 365, "validity in days")
	for _, f := range []string{"user", "name", "platform"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

type bulkRow struct {
	line                int
	upn, name, platform string
}

// readBulk parses upn,name,platform rows; a header row is skipped. Malformed rows are returned
// as errors per line, not as a failure of the whole file.
func readBulk(r io.Reader) ([]bulkRow, map[int]string, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.Comment = '#'
	var rows []bulkRow
	bad := map[int]string{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad[pe.Line] = pe.Err.Error()
				continue
			}
			return nil, nil, fmt.Errorf("read CSV: %w", err)
		}
		if len(rec) != 3 {
			bad[line] = fmt.Sprintf("want 3 columns (upn,name,platform), got %d", len(rec))
			continue
		}
		if len(rows) == 0 && len(bad) == 0 && strings.EqualFold(strings.TrimSpace(rec[0]), "upn") {
			continue
		}
		rows = append(rows, bulkRow{line: line, upn: strings.TrimSpace(rec[0]), name: strings.TrimSpace(rec[1]),
			platform: strings.ToLower(strings.TrimSpace(rec[2]))})
	}
	return rows, bad, nil
}

func deviceBulkIssue(g *globals) *cobra.Command {
	var nDays int
	cmd := &cobra.Command{Use: "bulk-issue CSV", Short: "Issue certificates for every row upn,name,platform of a CSV file (\"-\" = standard input)",
		Long: "Issue certificates for every row of a CSV file with the columns upn,name,platform. Bad rows are\n" +
			"reported and skipped; each good row is issued completely or not at all. The report is CSV:\n" +
			"line,upn,name,result,device_id,serial,download_token,one_time_password,error.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			validity, err := days(nDays)
			if err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("open CSV: %w", err)
				}
				defer f.Close()
				r = f
			}
			rows, bad, err := readBulk(r)
			if err != nil {
				return err
			}
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, _ *devicecert.CA) error {
				svc := in.Admin
				w := csv.NewWriter(cmd.OutOrStdout())
				_ = w.Write([]string{"line", "upn", "name", "result", "device_id", "serial", "download_token", "one_time_password", "error"})
				for _, line := range slices.Sorted(maps.Keys(bad)) {
					_ = w.Write([]string{fmt.Sprint(line), "", "", "skipped", "", "", "", "", bad[line]})
				}
				ok, skipped := 0, len(bad)
				for _, row := range rows {
					fail := func(err error) {
						skipped++
						_ = w.Write([]string{fmt.Sprint(row.line), row.upn, row.name, "skipped", "", "", "", "", err.Error()})
					}
					// Each row is one transaction with its own admin audit entry.
					is, err := svc.IssueDevice(ctx, cliActor(), row.upn, row.name, row.platform, validity)
					if err != nil {
						fail(err)
						continue
					}
					ok++
					_ = w.Write([]string{fmt.Sprint(row.line), is.User.UPN, is.Device.Name, "issued", is.Device.ID, is.Device.Serial, is.Token, is.Password, ""})
				}
				w.Flush()
				fmt.Fprintf(cmd.ErrOrStderr(), "issued %d, skipped %d\n", ok, skipped)
				return w.Error()
			})
		}}
	cmd.Flags().IntVar(&nDays, "days", 365, "validity in days")
	return cmd
}

func deviceList(g *globals) *cobra.Command {
	var upn string
	cmd := &cobra.Command{Use: "list", Short: "List device certificates", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				userID := ""
				if upn != "" {
					u, err := in.Store.GetUserByUPN(ctx, upn)
					if err != nil {
						return fmt.Errorf("user %s: %w", upn, err)
					}
					userID = u.ID
				}
				ds, err := ca.List(ctx, userID)
				if err != nil {
					return err
				}
				upns := map[string]string{}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "ID\tUSER\tNAME\tPLATFORM\tSERIAL\tSTATE\tNOT AFTER")
				now := time.Now()
				for _, d := range ds {
					if _, ok := upns[d.UserID]; !ok {
						upns[d.UserID] = d.UserID
						if u, err := in.Store.GetUser(ctx, d.UserID); err == nil {
							upns[d.UserID] = u.UPN
						}
					}
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.ID, upns[d.UserID], d.Name, d.Platform, d.Serial,
						ca.State(d, now), d.NotAfter.Format("2006-01-02"))
				}
				return tw.Flush()
			})
		}}
	cmd.Flags().StringVar(&upn, "user", "", "only this user's devices")
	return cmd
}

func deviceShow(g *globals) *cobra.Command {
	return &cobra.Command{Use: "show SERIAL|ID", Short: "Show one device certificate", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				d, err := ca.Get(ctx, args[0])
				if err != nil {
					return fmt.Errorf("device %s: %w", args[0], err)
				}
				upn := d.UserID
				if u, err := in.Store.GetUser(ctx, d.UserID); err == nil {
					upn = u.UPN
				}
				w := cmd.OutOrStdout()
				ts := func(t time.Time) string {
					if t.IsZero() {
						return "-"
					}
					return t.Format(time.RFC3339)
				}
				fmt.Fprintf(w, "id:           %s\nuser:         %s\nname:         %s\nplatform:     %s\nserial:       %s\n", d.ID, upn, d.Name, d.Platform, d.Serial)
				fmt.Fprintf(w, "state:        %s (stored: %s)\nnot before:   %s\nnot after:    %s\nissued:       %s\n", ca.State(d, time.Now()), d.Status,
					ts(d.NotBefore), ts(d.NotAfter), ts(d.IssuedAt))
				fmt.Fprintf(w, "first seen:   %s\nrevoked:      %s\nreplaced by:  %s\n", ts(d.FirstSeenAt), ts(d.RevokedAt), orDash(d.ReplacedBy))
				return nil
			})
		}}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func deviceRenew(g *globals) *cobra.Command {
	var nDays int
	cmd := &cobra.Command{Use: "renew SERIAL|ID", Short: "Issue a replacement; the old certificate works until the grace period ends",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			validity, err := days(nDays)
			if err != nil {
				return err
			}
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				is, err := in.Admin.RenewDevice(ctx, cliActor(), args[0], validity)
				if err != nil {
					return err
				}
				printIssued(cmd.OutOrStdout(), in, is)
				fmt.Fprintf(cmd.OutOrStdout(), "The old certificate %s keeps working for %s.\n", is.Replaced.Serial, ca.ReplacedGrace)
				return nil
			})
		}}
	cmd.Flags().IntVar(&nDays, "days", 365, "validity in days")
	return cmd
}

func deviceRevoke(g *globals) *cobra.Command {
	return &cobra.Command{Use: "revoke SERIAL|ID", Short: "Revoke a device certificate at once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, _ *devicecert.CA) error {
				d, err := in.Admin.RevokeDevice(ctx, cliActor(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "revoked %s (%s, serial %s)\n", d.ID, d.Name, d.Serial)
				return nil
			})
		}}
}

func deviceExport(g *globals) *cobra.Command {
	return &cobra.Command{Use: "export SERIAL|ID", Short: "Print the certificate (PEM, no private key)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				p, err := ca.Export(ctx, args[0])
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(p)
				return err
			})
		}}
}

func deviceDownload(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{Use: "download TOKEN", Short: "Fetch a certificate package (.p12) with its download token (once)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return fmt.Errorf("--out FILE is required")
			}
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				p12, err := ca.Download(ctx, args[0], time.Now())
				if err != nil {
					return err
				}
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return fmt.Errorf("write %s: %w (the package is consumed; revoke and reissue if it is lost)", out, err)
				}
				if _, err := f.Write(p12); err != nil {
					f.Close()
					return fmt.Errorf("write %s: %w", out, err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("write %s: %w", out, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "wrote %s (%d bytes); open it with the one-time password\n", out, len(p12))
				return nil
			})
		}}
	cmd.Flags().StringVar(&out, "out", "", "file to write (created, never overwritten)")
	return cmd
}

func deviceCA(g *globals) *cobra.Command {
	return &cobra.Command{Use: "ca", Short: "Print the device CA certificate (PEM), creating the CA if needed", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				c, err := ca.CACertificate(ctx)
				if err != nil {
					return err
				}
				return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
			})
		}}
}

func deviceCRL(g *globals) *cobra.Command {
	var out string
	cmd := &cobra.Command{Use: "crl", Short: "Write the current certificate revocation list (DER, or PEM to standard output)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withCA(g, cmd, func(ctx context.Context, in *setup.Instance, ca *devicecert.CA) error {
				der, err := ca.CRL(ctx)
				if err != nil {
					return err
				}
				if out == "" {
					return pem.Encode(cmd.OutOrStdout(), &pem.Block{Type: "X509 CRL", Bytes: der})
				}
				if err := os.WriteFile(out, der, 0o644); err != nil {
					return fmt.Errorf("write %s: %w", out, err)
				}
				return nil
			})
		}}
	cmd.Flags().StringVar(&out, "out", "", "DER file to write")
	return cmd
}
