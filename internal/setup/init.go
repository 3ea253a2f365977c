package setup

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/secrets"
	"github.com/sekisho/sekisho/internal/store"
)

// InitOptions configure a new data folder.
type InitOptions struct {
	Demo    bool
	Listen  string // written to the config when set
	BaseURL string // written to the config when set
}

// InitResult tells the operator what was created.
type InitResult struct {
	DataDir       string
	CAFile        string
	AdminUPN      string
	AdminPassword string // demo only: shown once, never stored in plain form; one-time
	DemoUsers     []DemoUser
}

// DemoUser is a demo account and its password (each its own, shown once).
type DemoUser struct{ UPN, Password string }

// Password returns the initial password of a demo user or the admin ("" when unknown).
func (r InitResult) Password(upn string) string {
	if strings.EqualFold(upn, r.AdminUPN) {
		return r.AdminPassword
	}
	for _, u := range r.DemoUsers {
		if strings.EqualFold(u.UPN, upn) {
			return u.Password
		}
	}
	return ""
}

// DemoCAFile is where init writes the managed CA certificate for clients to trust.
const DemoCAFile = "demo-ca.pem"

// Init creates config, master key, signing and TLS keys (and with Demo, a demo tenant) in
// dataDir. It refuses an initialised folder, and removes what it created when a step fails.
func Init(ctx context.Context, dataDir string, opts InitOptions, logOut io.Writer) (res InitResult, err error) {
	if IsInitialised(dataDir) {
		return res, fmt.Errorf("%s is initialised already (it has a master key or config); refusing to overwrite it", dataDir)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return res, fmt.Errorf("create data folder: %w", err)
	}
	var created []string
	defer func() {
		if err != nil {
			for i := len(created) - 1; i >= 0; i-- {
				os.Remove(created[i])
			}
		}
	}()
	cfg := config.Default()
	if opts.Listen != "" {
		cfg.Listen = opts.Listen
		if opts.BaseURL == "" {
			opts.BaseURL = baseURLFor(opts.Listen)
		}
	}
	if opts.BaseURL != "" {
		cfg.BaseURL = opts.BaseURL
	}
	cfgPath := filepath.Join(dataDir, config.FileName)
	b, err := config.Marshal(cfg)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(cfgPath, append([]byte("# Sekisho configuration; see docs/configuration.md\n"), b...), 0o600); err != nil {
		return res, fmt.Errorf("write config: %w", err)
	}
	created = append(created, cfgPath)
	mk, err := secrets.GenerateKey()
	if err != nil {
		return res, err
	}
	keyPath := filepath.Join(dataDir, cfg.MasterKeyFile)
	if err := secrets.WriteKeyFile(keyPath, mk); err != nil {
		return res, err
	}
	created = append(created, keyPath)
	dbPath := filepath.Join(dataDir, cfg.Store.Path)
	created = append(created, dbPath, dbPath+"-wal", dbPath+"-shm")

	in, err := Open(ctx, dataDir, logOut)
	if err != nil {
		return res, err
	}
	defer in.Close()
	ca, err := in.EnsureKeys(ctx)
	if err != nil {
		return res, err
	}
	res.DataDir = dataDir
	res.CAFile = filepath.Join(dataDir, DemoCAFile)
	if err := os.WriteFile(res.CAFile, keys.CertPEM(ca), 0o644); err != nil {
		return res, fmt.Errorf("write CA certificate: %w", err)
	}
	created = append(created, res.CAFile)
	if opts.Demo {
		if err := seedDemo(ctx, in, &res); err != nil {
			return res, fmt.Errorf("create demo tenant: %w", err)
		}
	}
	return res, nil
}

func baseURLFor(listen string) string {
	host, port := "localhost", "8443"
	if i := lastColon(listen); i >= 0 {
		port = listen[i+1:]
		if h := listen[:i]; h != "" && h != "0.0.0.0" && h != "[::]" && h != "127.0.0.1" {
			host = h
		}
	}
	return "https://" + host + ":" + port
}

func lastColon(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return i
		}
	}
	return -1
}

// DemoPolicy is the demo tenant's access policy (docs/policy.md explains the format). It
// names the stored networks "office" and "exchange-online".
const DemoPolicy = `# Demo policy: the office is trusted; legacy (basic-auth) clients only from the office;
# outside the office, sales staff need a second factor and everyone else is refused.
version: 1
default: deny

rules:
  - name: enrol-second-factor-in-office
    description: A first second factor (authenticator app, passkey) may be set up with the password alone, only in the office.
    applications: [sekisho-account]
    networks: [office]
    action: allow

  - name: block-legacy-outside
    description: Basic-auth clients (proxied by Exchange Online, calling WS-Trust directly, or devices on the mail bridge) only from the office.
    client_types: [legacy-proxied, active-direct, bridge-imap, bridge-pop, bridge-smtp]
    not_networks: [office]
    action: deny

  - name: legacy-in-office
    client_types: [legacy-proxied, active-direct, bridge-imap, bridge-pop, bridge-smtp]
    action: allow

  - name: admin-api-from-office
    description: Admin API tokens (protocol api) only from the office. A token is not a second factor, so elsewhere the next rule refuses it.
    applications: [sekisho-admin]
    protocols: [api]
    networks: [office]
    action: allow

  - name: console-admins-with-mfa
    description: The Sekisho console (sekisho-admin) always asks its administrators, helpdesk and auditors for a second factor.
    applications: [sekisho-admin]
    groups: [sekisho-admins, sekisho-helpdesk, sekisho-auditors]
    action: require_mfa

  - name: console-nobody-else
    applications: [sekisho-admin]
    action: deny

  - name: it-admins-need-mfa
    description: Administrators always use a second factor.
    groups: [it-admins]
    action: require_mfa

  - name: office
    networks: [office]
    action: allow

  - name: sales-outside-with-mfa
    groups: [sales]
    action: require_mfa
`

func seedDemo(ctx context.Context, in *Instance, res *InitResult) error {
	s := in.Store
	now := time.Now().UTC()
	for _, g := range []struct{ name, desc string }{
		{"staff", "Everyone employed"}, {"sales", "Sales team (travels)"},
		{"it-admins", "IT administrators"}, {"sekisho-admins", "Sekisho console administrators"},
		{"sekisho-helpdesk", "Sekisho console: users, factors, lockout, devices"}, {"sekisho-auditors", "Sekisho console: read only"},
		{"break-glass", "Emergency accounts; every use is flagged"},
	} {
		if err := s.CreateGroup(ctx, store.Group{ID: g.name, Name: g.name, Description: g.desc, CreatedAt: now}); err != nil {
			return err
		}
	}
	for _, n := range []store.Network{
		{Name: "office", Description: "Head office and VPN egress (demo: loopback counts as the office)",
			CIDRs: []string{"203.0.113.0/24", "2001:db8:100::/48", "127.0.0.0/8", "::1/128"}},
		{Name: "exchange-online", Description: "Exchange Online egress ranges: fill from Microsoft's published endpoint list (docs/microsoft-365.md)"},
	} {
		n.UpdatedAt = now
		if err := s.PutNetwork(ctx, n); err != nil {
			return err
		}
	}
	// Each demo user gets a password of its own, printed once; the administrator's is
	// one-time: it must be replaced at the first sign-in.
	users := []directory.NewUser{
		{UPN: "alice@example.com", DisplayName: "Alice Sato", Email: "alice@example.com", Groups: []string{"staff", "sales"}},
		{UPN: "bob@example.com", DisplayName: "Bob Tanaka", Email: "bob@example.com", Groups: []string{"staff"}},
		{UPN: "carol@example.com", DisplayName: "Carol Suzuki", Email: "carol@example.com", Groups: []string{"staff", "it-admins"}},
		{UPN: "admin@example.com", DisplayName: "Sekisho Administrator", Email: "admin@example.com", Groups: []string{"sekisho-admins"},
			Temporary: true},
	}
	for i := range users {
		pw, err := directory.GeneratePassword()
		if err != nil {
			return err
		}
		users[i].Password = pw
	}
	for _, u := range users {
		if _, err := in.Directory.AddUser(ctx, u); err != nil {
			return err
		}
		if u.UPN != "admin@example.com" {
			res.DemoUsers = append(res.DemoUsers, DemoUser{UPN: u.UPN, Password: u.Password})
		} else {
			res.AdminUPN, res.AdminPassword = u.UPN, u.Password
		}
	}
	{
		if _, err := s.AddPolicyVersion(ctx, store.PolicyVersion{Document: []byte(DemoPolicy), Author: "sekisho init --demo",
			Comment: "demo policy", CreatedAt: now}); err != nil {
			return err
		}
	}
	if err := m365.PutDomain(ctx, s, m365.DomainSettings{Domain: m365.Domain{Name: "example.com", InsideNetworks: []string{"office"},
		EmitMFA: true}}); err != nil {
		return err
	}
	return nil
}
