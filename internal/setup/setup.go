// Package setup opens a Sekisho instance from its data folder: configuration, master key,
// store, and the services built on them. Every command and the server start here, so they
// all see the same validated state.
package setup

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/apitoken"
	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/bridge/apppassword"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/directory/ldapconn"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/lockout"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/scimtoken"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/store/postgres"
	"github.com/sekisho/sekisho/internal/store/sqlite"
	"github.com/sekisho/sekisho/internal/userdocs"
)

// Instance is an opened data folder.
type Instance struct {
	Config    *config.Config
	Store     store.Store
	Sealer    *secrets.Sealer
	Directory *directory.Directory
	Keys      *keys.Manager
	Devices   *devicecert.CA   // the device CA (its key is created at its first use)
	Factors   *factors.Manager // second factors: TOTP, emergency codes, passkeys
	Lockout   *lockout.Lockout // nil when smart lockout is switched off
	Admin     *admin.Service   // every administrative change: one transaction, one audit entry
	Log       *slog.Logger
}

// Close releases the store.
func (in *Instance) Close() error { return in.Store.Close() }

// Open loads the configuration of dataDir, checks the master key against the store, opens
// the store (applying pending migrations) and builds every service on it: the one bootstrap
// of the server, the CLI and the tests.
func Open(ctx context.Context, dataDir string, logOut io.Writer) (*Instance, error) {
	cfg, err := config.Load(dataDir)
	if err != nil {
		return nil, err
	}
	key, err := secrets.LoadKey(cfg.Resolve(cfg.MasterKeyFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no master key in %s: run `sekisho init --data %s` first", dataDir, dataDir)
		}
		return nil, err
	}
	sealer, err := secrets.New(key)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	in := &Instance{Config: cfg, Store: st, Sealer: sealer, Log: NewLogger(logOut, cfg.Log.Level)}
	if err := in.checkMasterKey(ctx); err != nil {
		st.Close()
		return nil, err
	}
	in.Directory = directory.New(st, directory.Params{MemoryKiB: cfg.Password.MemoryKiB, Iterations: cfg.Password.Iterations,
		Parallelism: cfg.Password.Parallelism}, directory.PasswordPolicy{MinLength: cfg.Password.MinLength})
	if err := ldapconn.Register(in.Directory, cfg); err != nil {
		st.Close()
		return nil, err
	}
	in.Keys = keys.NewManager(st, sealer)
	in.Devices = devicecert.New(st, in.Keys, sealer)
	in.Devices.Log, in.Devices.CRLURL = in.Log, cfg.BaseURL+devicecert.CRLPath
	in.Factors = factors.New(userdocs.Factors(st), st, sealer, "Sekisho")
	if c := cfg.Lockout; c.Enabled {
		in.Lockout = lockout.New(userdocs.Lockout(st), lockout.Config{Threshold: c.Threshold, FamiliarThreshold: c.FamiliarThreshold,
			Window: c.Window.D(), LockDuration: c.Duration.D(), LogOnly: c.LogOnly}, in.Log, nil)
	}
	in.Admin = admin.New(st, in.Directory)
	in.Admin.Keys, in.Admin.Devices, in.Admin.Factors, in.Admin.Lockout = in.Keys, in.Devices, in.Factors, in.Lockout
	if in.Admin.Tokens, err = apitoken.NewHasher(sealer.Derive("api-tokens")); err != nil {
		st.Close()
		return nil, err
	}
	if in.Admin.ClientSecrets, err = oidc.NewSecretHasher(sealer.Derive("oidc-client-secrets")); err != nil {
		st.Close()
		return nil, err
	}
	if in.Admin.SCIMTokens, err = scimtoken.NewHasher(sealer.Derive("scim-tokens")); err != nil {
		st.Close()
		return nil, err
	}
	if in.Admin.BridgeCredentials, err = apppassword.NewHasher(sealer.Derive("bridge-app-passwords")); err != nil {
		st.Close()
		return nil, err
	}
	return in, nil
}

// checkMasterKey refuses to run with a master key that did not seal the stored keys: starting
// anyway would fail every sign-in and tempt an operator to re-initialise over real data.
func (in *Instance) checkMasterKey(ctx context.Context) error {
	for _, purpose := range []string{keys.PurposeToken, keys.PurposeTokenES256, keys.PurposeTLSServer} {
		rows, err := in.Store.ListSigningKeys(ctx, purpose)
		if err != nil {
			return fmt.Errorf("read signing keys: %w", err)
		}
		for _, r := range rows {
			if _, err := in.Sealer.Open(r.SealedKey, []byte("signing-key:"+r.ID)); err != nil {
				return fmt.Errorf("the master key (id %s) does not open the keys stored in this database; "+
					"use the master key this data folder was initialised with: %w", in.Sealer.KeyID(), err)
			}
		}
	}
	return nil
}

// OpenStore opens the configured backend and applies migrations.
func OpenStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	switch cfg.Store.Driver {
	case "sqlite":
		s, err := sqlite.Open(ctx, cfg.Resolve(cfg.Store.Path))
		if err != nil {
			return nil, fmt.Errorf("open sqlite store %s: %w", cfg.Resolve(cfg.Store.Path), err)
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, cfg.Store.DSN)
		if err != nil {
			return nil, fmt.Errorf("open postgres store: %w", err)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown store driver %q", cfg.Store.Driver)
}

// Migrate applies pending migrations and reports how many ran.
func Migrate(ctx context.Context, s store.Store) (int, error) {
	m, ok := s.(interface {
		Migrate(context.Context) (int, error)
	})
	if !ok {
		return 0, errors.New("this store backend has no migrations")
	}
	return m.Migrate(ctx)
}

// NewLogger returns a JSON slog logger at the given level.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch strings.ToLower(level) {
	case "debug":
		l = slog.LevelDebug
	case "warn":
		l = slog.LevelWarn
	case "error":
		l = slog.LevelError
	default:
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// IsInitialised reports whether dataDir holds a master key or config already.
func IsInitialised(dataDir string) bool {
	for _, f := range []string{"master.key", config.FileName} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err == nil {
			return true
		}
	}
	return false
}
