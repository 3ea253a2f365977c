package main

import (
	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"

	"github.com/sekisho/sekisho/internal/report"
	"github.com/sekisho/sekisho/internal/wiring"
)

func init() { extraCommands = append(extraCommands, newReportCmd) }

func newReportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "report", Short: "Reports (docs/legacy-auth-report.md)"}
	var job report.Job
	legacy := &cobra.Command{Use: "legacy-auth", Short: "Basic-auth retirement impact report from the sign-in log and Entra sign-in exports",
		Args: cobra.NoArgs,
		RunE: g.withInstance(func(cmd *cobra.Command, _ []string, in *setup.Instance) error {
			opts, err := wiring.ReportOptions(cmd.Context(), in)
			if err != nil {
				return err
			}
			opts.Lang = job.Lang
			job.Stderr = cmd.ErrOrStderr()
			return job.Run(cmd.Context(), opts, report.StoreSource(in.Store), cmd.OutOrStdout(), in.Log)
		})}
	f := legacy.Flags()
	f.StringVar(&job.Since, "since", "", "how far back (30d, 2w, 12h, a date or an RFC 3339 time); default: the span the --entra-signins exports cover, else 30d")
	f.StringSliceVar(&job.EntraFiles, "entra-signins", nil, "Entra ID sign-in export (CSV or JSON; repeatable)")
	f.StringVar(&job.Format, "format", "html", "html, csv or json")
	f.StringVar(&job.Lang, "lang", "en", "ja or en")
	f.StringVar(&job.Out, "out", "", "write to this file (default standard output)")
	cmd.AddCommand(legacy)
	return cmd
}
