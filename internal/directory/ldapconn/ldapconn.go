// Package ldapconn is the LDAP / Active Directory connector: it reads users and groups with
// paged searches (directory.Syncer) and checks a synced user's password by binding as the
// user (directory.PasswordVerifier), over LDAPS or StartTLS with the server's certificate
// verified. docs/directory.md describes its configuration.
package ldapconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/google/uuid"

	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/store"
)

// ID is the connector's ID: the Source of the users and groups it brings.
const ID = "ldap"

// inChainRule is LDAP_MATCHING_RULE_IN_CHAIN (Active Directory): a filter on memberOf with
// it matches the members of a group through any depth of nesting.
const inChainRule = "1.2.840.113556.1.4.1941"

// ADAccountDisable is the ACCOUNTDISABLE bit of userAccountControl.
const ADAccountDisable = 0x2

// Connector is the LDAP connector.
type Connector struct {
	cfg      config.LDAP // with the flavor's defaults
	password string      // the service account's; never logged nor put in an error
	tls      *tls.Config
	u        *url.URL
}

var (
	_ directory.Syncer           = (*Connector)(nil)
	_ directory.PasswordVerifier = (*Connector)(nil)
)

// New builds the connector from its configuration (already validated by internal/config).
// resolve makes a configured path absolute (config.Config.Resolve); getenv reads the
// variable bind_password_env names.
func New(l config.LDAP, resolve func(string) string, getenv func(string) string) (*Connector, error) {
	l = l.WithDefaults()
	u, err := url.Parse(strings.TrimSpace(l.URL))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("directory.ldap.url: %q is not an ldap:// or ldaps:// URL", l.URL)
	}
	c := &Connector{cfg: l, u: u}
	switch {
	case l.BindPasswordFile != "":
		b, err := os.ReadFile(resolve(l.BindPasswordFile))
		if err != nil {
			return nil, fmt.Errorf("directory.ldap.bind_password_file: %w", err)
		}
		c.password = strings.TrimRight(string(b), "\r\n")
	case l.BindPasswordEnv != "":
		c.password = getenv(l.BindPasswordEnv)
	}
	if c.password == "" {
		return nil, errors.New("directory.ldap: the bind password is empty (an empty password would be an unauthenticated bind)")
	}
	host := l.ServerName
	if host == "" {
		host = u.Hostname()
	}
	c.tls = &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if l.CAFile != "" {
		pem, err := os.ReadFile(resolve(l.CAFile))
		if err != nil {
			return nil, fmt.Errorf("directory.ldap.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("directory.ldap.ca_file: %s holds no PEM certificate", l.CAFile)
		}
		c.tls.RootCAs = pool
	}
	return c, nil
}

// Register adds the LDAP connector to d when the configuration has one.
func Register(d *directory.Directory, cfg *config.Config) error {
	l := cfg.Directory.LDAP
	if !l.Enabled() {
		return nil
	}
	c, err := New(l, cfg.Resolve, os.Getenv)
	if err != nil {
		return err
	}
	l = c.cfg
	return d.AddConnector(directory.ConnectorSettings{Connector: c, Interval: l.SyncInterval.D(), DisableGrace: l.DisableGrace.D(),
		MaxDisablePercent: float64(l.MaxDisablePercent), LocalFallback: l.LocalFallback})
}

// ID implements directory.Connector.
func (c *Connector) ID() string { return ID }

// dial connects (TLS from the start for ldaps://, StartTLS when configured); the connection
// is closed when ctx ends.
func (c *Connector) dial(ctx context.Context) (*ldap.Conn, func(), error) {
	timeout := c.cfg.Timeout.D()
	conn, err := ldap.DialURL(c.u.String(), ldap.DialWithDialer(&net.Dialer{Timeout: timeout}), ldap.DialWithTLSConfig(c.tls))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to %s: %w", c.u.Redacted(), err)
	}
	conn.SetTimeout(timeout)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	done := func() { stop(); conn.Close() }
	if c.u.Scheme == "ldap" && c.cfg.StartTLS {
		if err := conn.StartTLS(c.tls); err != nil {
			done()
			return nil, nil, fmt.Errorf("StartTLS with %s: %w", c.u.Redacted(), err)
		}
	}
	return conn, done, nil
}

// VerifyPassword implements directory.PasswordVerifier: a simple bind as the user's DN. An
// empty password is refused before anything is sent (it would be an unauthenticated bind,
// which servers answer with success).
func (c *Connector) VerifyPassword(ctx context.Context, u store.User, password string) error {
	if password == "" || u.SourceDN == "" {
		return fmt.Errorf("no password or no DN: %w", directory.ErrBadCredentials)
	}
	conn, done, err := c.dial(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := conn.Bind(u.SourceDN, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return fmt.Errorf("bind refused: %w", directory.ErrBadCredentials)
		}
		return fmt.Errorf("bind as %s: %w", u.SourceDN, err)
	}
	return nil
}

// Snapshot implements directory.Syncer: a bind as the service account, then paged searches
// for groups and users under every base DN, and the memberships by the configured mode.
// Each page of entries is turned into Sekisho's form (and dropped) before the next is read:
// the LDAP library keeps every attribute value of an entry in a buffer of its own of at least
// 512 bytes, so holding all the entries of 100,000 users and their groups' member values at
// once cost close to 1 GB (docs/benchmarks.md, directory-sync).
func (c *Connector) Snapshot(ctx context.Context) (directory.Snapshot, error) {
	var snap directory.Snapshot
	conn, done, err := c.dial(ctx)
	if err != nil {
		return snap, err
	}
	defer done()
	if err := conn.Bind(c.cfg.BindDN, c.password); err != nil {
		return snap, fmt.Errorf("bind as %s: %w", c.cfg.BindDN, err)
	}
	a := c.cfg.Attributes
	groupAttrs := []string{a.GroupName, a.GroupDescription}
	if c.cfg.NestedGroups != "in_chain" {
		groupAttrs = append(groupAttrs, a.GroupMember)
	}
	var groups []group
	err = c.search(conn, c.cfg.GroupBaseDNs, c.cfg.GroupFilter, groupAttrs, func(e *ldap.Entry) {
		g := group{ExternalGroup: directory.ExternalGroup{DN: e.DN, Name: e.GetAttributeValue(a.GroupName),
			Description: e.GetAttributeValue(a.GroupDescription)}, norm: normDN(e.DN)}
		if c.cfg.NestedGroups != "in_chain" {
			for _, m := range e.GetAttributeValues(a.GroupMember) {
				g.members = append(g.members, normDN(m))
			}
		}
		groups = append(groups, g)
	})
	if err != nil {
		return snap, fmt.Errorf("search groups: %w", err)
	}
	memberships, err := c.memberships(conn, groups)
	if err != nil {
		return snap, err
	}
	for _, g := range groups {
		snap.Groups = append(snap.Groups, g.ExternalGroup)
	}
	userAttrs := []string{a.ID, a.UPN, a.Email, a.DisplayName}
	if a.UserAccountControl != "" {
		userAttrs = append(userAttrs, a.UserAccountControl)
	}
	err = c.search(conn, c.cfg.UserBaseDNs, c.cfg.UserFilter, userAttrs, func(e *ldap.Entry) {
		id := immutableID(e.GetRawAttributeValue(a.ID))
		if id == "" {
			snap.Skipped = append(snap.Skipped, directory.Skip{DN: e.DN, Reason: "no " + a.ID + " attribute"})
			return
		}
		x := directory.ExternalUser{DN: e.DN, ImmutableID: id, UPN: e.GetAttributeValue(a.UPN),
			DisplayName: e.GetAttributeValue(a.DisplayName), Email: e.GetAttributeValue(a.Email),
			Groups: memberships[normDN(e.DN)]}
		if x.UPN == "" {
			snap.Skipped = append(snap.Skipped, directory.Skip{DN: e.DN, Reason: "no " + a.UPN + " attribute"})
			return
		}
		if a.UserAccountControl != "" {
			if v := e.GetAttributeValue(a.UserAccountControl); v != "" {
				n, err := strconv.ParseInt(v, 10, 64)
				x.Disabled = err != nil || n&ADAccountDisable != 0 // unreadable: treat as disabled
			}
		}
		snap.Users = append(snap.Users, x)
	})
	if err != nil {
		return snap, fmt.Errorf("search users: %w", err)
	}
	return snap, nil
}

// group is a group entry as Snapshot keeps it: its DN normalised and its members' DNs
// normalised (not with the in_chain rule, which reads no member attribute).
type group struct {
	directory.ExternalGroup
	norm    string
	members []string
}

// search runs one paged search (RFC 2696) per base DN and hands every entry to fn, a page at
// a time: the library's SearchWithPaging would hold every page until the last.
func (c *Connector) search(conn *ldap.Conn, bases []string, filter string, attrs []string, fn func(*ldap.Entry)) error {
	for _, base := range bases {
		paging := ldap.NewControlPaging(uint32(c.cfg.PageSize))
		req := ldap.NewSearchRequest(base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0, int(c.cfg.Timeout.D()/time.Second),
			false, filter, attrs, []ldap.Control{paging})
		for {
			res, err := conn.Search(req)
			if err != nil {
				return fmt.Errorf("under %s: %w", base, err)
			}
			for _, e := range res.Entries {
				fn(e)
			}
			p, ok := ldap.FindControl(res.Controls, ldap.ControlTypePaging).(*ldap.ControlPaging)
			if !ok || len(p.Cookie) == 0 {
				break // the last page (or a server that does not page: everything at once)
			}
			paging.SetCookie(p.Cookie)
		}
	}
	return nil
}

// memberships returns, by normalised user DN, the DNs of the user's groups: by AD's in-chain
// rule (one paged search per group), or from the groups' member attribute, expanded through
// nested groups ("expand") or not ("none").
func (c *Connector) memberships(conn *ldap.Conn, groups []group) (map[string][]string, error) {
	out := map[string][]string{}
	if c.cfg.NestedGroups == "in_chain" {
		for _, g := range groups {
			f := fmt.Sprintf("(&%s(%s:%s:=%s))", c.cfg.UserFilter, c.cfg.Attributes.MemberOf, inChainRule, ldap.EscapeFilter(g.DN))
			err := c.search(conn, c.cfg.UserBaseDNs, f, []string{"1.1"}, func(m *ldap.Entry) {
				out[normDN(m.DN)] = append(out[normDN(m.DN)], g.DN)
			})
			if err != nil {
				return nil, fmt.Errorf("search the members of %s: %w", g.DN, err)
			}
		}
		return out, nil
	}
	// parents: normalised member DN → the groups naming it, by index in groups.
	parents := map[string][]int{}
	for i, g := range groups {
		for _, m := range g.members {
			parents[m] = append(parents[m], i)
		}
	}
	seen := make([]int, len(groups)) // seen[i] == k+1: group i already reached from member k
	var queue []int
	k := 0
	for member, direct := range parents {
		k++
		queue = append(queue[:0], direct...)
		for len(queue) > 0 {
			p := queue[0]
			queue = queue[1:]
			if seen[p] == k {
				continue // a cycle of groups, or two paths to one group
			}
			seen[p] = k
			out[member] = append(out[member], groups[p].DN)
			if c.cfg.NestedGroups == "expand" {
				queue = append(queue, parents[groups[p].norm]...)
			}
		}
	}
	return out, nil
}

// immutableID is the ImmutableID of an ID attribute's value: base64 of the 16 bytes of a
// binary GUID (AD's objectGUID, as Entra Connect computes it) or of a textual UUID
// (OpenLDAP's entryUUID); any other value is base64 of its bytes.
func immutableID(raw []byte) string {
	switch {
	case len(raw) == 0:
		return ""
	case len(raw) == 16:
		return base64.StdEncoding.EncodeToString(raw)
	}
	if u, err := uuid.ParseBytes(raw); err == nil {
		return base64.StdEncoding.EncodeToString(u[:])
	}
	return base64.StdEncoding.EncodeToString(raw)
}

// normDN is the form DNs are compared in (ldap.ParseDN's, lower-cased); a DN that does not
// parse is compared as written, lower-cased.
func normDN(dn string) string {
	if n, ok := plainDN(dn); ok {
		return n
	}
	p, err := ldap.ParseDN(dn)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(dn))
	}
	return strings.ToLower(p.String())
}

// plainDN is normDN without parsing, for the DNs almost every directory has: RDNs of one
// type=value each, made of ASCII letters, digits and - . _ @ only, nothing empty. ldap.ParseDN
// and String leave such a DN as written (nothing to unescape, trim or escape; the types are
// lower-cased), so its normal form is the DN lower-cased. Any other DN is not plain (false)
// and is parsed. A sync normalises every user's DN and every member value: 300,000 parses for
// 100,000 users.
func plainDN(dn string) (string, bool) {
	inValue, empty := false, true // in the value part of the RDN; nothing yet in the part
	for i := 0; i < len(dn); i++ {
		switch c := dn[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '.', c == '_', c == '@':
			empty = false
		case c == '=' && !inValue && !empty:
			inValue, empty = true, true
		case c == ',' && inValue && !empty:
			inValue, empty = false, true
		default:
			return "", false
		}
	}
	if !inValue || empty {
		return "", false
	}
	return strings.ToLower(dn), true
}
