package wiring

import (
	"context"
	"time"

	"github.com/sekisho/sekisho/internal/scim"
)

// mountSCIM serves the SCIM 2.0 provisioning door (/scim/v2): each connector's token judged
// by the gate as the connector itself (application sekisho-scim, protocol scim), changes
// through the admin service.
func mountSCIM(ctx context.Context, s *Services) error {
	in := s.Instance
	srv := &scim.Server{Store: in.Store, Admin: in.Admin, Gate: s.Gate, Tokens: in.Admin.SCIMTokens,
		RecordRejected: s.Gate.RecordRejectedFor, BaseURL: in.Config.BaseURL, Log: in.Log, Now: time.Now}
	srv.Mount(s.Server.Mux)
	return nil
}
