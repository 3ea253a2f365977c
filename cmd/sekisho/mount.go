package main

import (
	"context"

	"github.com/sekisho/sekisho/internal/server"
	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/wiring"
)

// build composes the server for serve.
func build(ctx context.Context, in *setup.Instance) (*server.Server, *wiring.Services, error) {
	s, err := wiring.Build(ctx, in)
	if err != nil {
		return nil, nil, err
	}
	return s.Server, s, nil
}
