package wiring

import (
	"context"
	"time"

	"github.com/sekisho/sekisho/internal/api"
	"github.com/sekisho/sekisho/internal/report"
)

// mountAPI serves the admin REST API (/api/v1): the console's operations for tokens, judged
// by the same gate as the console (application sekisho-admin, protocol api).
func mountAPI(ctx context.Context, s *Services) error {
	in := s.Instance
	a := &api.API{Store: in.Store, Admin: in.Admin, Gate: s.Gate, Tokens: in.Admin.Tokens, RecordRejected: s.Gate.RecordRejectedFor,
		BaseURL: in.Config.BaseURL, Log: in.Log, Now: time.Now,
		Report: func(ctx context.Context, since time.Time) (*report.Report, error) {
			opts, err := ReportOptions(ctx, in)
			if err != nil {
				return nil, err
			}
			opts.Since = since
			return report.Build(ctx, opts, report.StoreSource(in.Store), nil, in.Log)
		}}
	a.Mount(s.Server.Mux)
	return nil
}
