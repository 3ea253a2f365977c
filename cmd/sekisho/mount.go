package main

import (
	"context"

	"github.com/sekisho/sekisho/internal/server"
	"github.com/sekisho/sekisho/internal/setup"
)

// mountAll mounts every protocol and web handler on the server.
func mountAll(ctx context.Context, srv *server.Server, in *setup.Instance) error {
	return nil
}
