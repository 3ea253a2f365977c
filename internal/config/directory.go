package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// Directory configures the directory connectors (docs/directory.md).
type Directory struct {
	LDAP LDAP `yaml:"ldap"`
}

// LDAP is the LDAP / Active Directory connector; it is on when URL is set. The bind
// password is never in this file: BindPasswordFile names a file holding it (or
// BindPasswordEnv a variable), read when the connector starts.
type LDAP struct {
	URL           string `yaml:"url"`            // ldaps://host[:636] or ldap://host[:389]
	StartTLS      bool   `yaml:"start_tls"`      // ldap:// upgraded with StartTLS
	AllowInsecure bool   `yaml:"allow_insecure"` // ldap:// without TLS: passwords in clear text
	CAFile        string `yaml:"ca_file"`        // PEM CA certificates for the server's certificate (default: the system's)
	ServerName    string `yaml:"server_name"`    // name in the server's certificate, when it is not the URL's host

	BindDN           string `yaml:"bind_dn"`
	BindPasswordFile string `yaml:"bind_password_file"`
	BindPasswordEnv  string `yaml:"bind_password_env"`

	// Flavor picks the defaults of the filters and attributes: "ad" (Active Directory,
	// the default) or "openldap".
	Flavor       string   `yaml:"flavor"`
	UserBaseDNs  []string `yaml:"user_base_dns"`
	UserFilter   string   `yaml:"user_filter"`
	GroupBaseDNs []string `yaml:"group_base_dns"` // default: user_base_dns
	GroupFilter  string   `yaml:"group_filter"`
	// NestedGroups: "in_chain" (AD's LDAP_MATCHING_RULE_IN_CHAIN, the ad default),
	// "expand" (the groups' member attribute expanded recursively, the openldap default) or
	// "none" (direct memberships only, from the groups' member attribute).
	NestedGroups string         `yaml:"nested_groups"`
	Attributes   LDAPAttributes `yaml:"attributes"`

	SyncInterval      Duration `yaml:"sync_interval"`       // 0: no scheduled sync
	DisableGrace      Duration `yaml:"disable_grace"`       // missing users are disabled after this
	MaxDisablePercent int      `yaml:"max_disable_percent"` // the threshold (default 10)
	LocalFallback     bool     `yaml:"local_fallback"`      // last accepted password while the directory is unreachable
	Timeout           Duration `yaml:"timeout"`             // per connection and operation
	PageSize          int      `yaml:"page_size"`           // paged results (RFC 2696)
}

// LDAPAttributes maps directory attributes to Sekisho's user and group fields; empty ones
// take the flavor's default.
type LDAPAttributes struct {
	ID                 string `yaml:"id"` // → ImmutableID: objectGUID (ad), entryUUID (openldap)
	UPN                string `yaml:"upn"`
	Email              string `yaml:"email"`
	DisplayName        string `yaml:"display_name"`
	MemberOf           string `yaml:"member_of"`            // the attribute the in_chain rule is applied to
	UserAccountControl string `yaml:"user_account_control"` // bit 2 = disabled; "" = none (openldap)
	GroupName          string `yaml:"group_name"`
	GroupDescription   string `yaml:"group_description"`
	GroupMember        string `yaml:"group_member"`
}

// Enabled reports whether the LDAP connector is configured.
func (l LDAP) Enabled() bool { return strings.TrimSpace(l.URL) != "" }

// WithDefaults returns l with every empty setting at its flavor's default.
func (l LDAP) WithDefaults() LDAP {
	set := func(p *string, v string) {
		if strings.TrimSpace(*p) == "" {
			*p = v
		}
	}
	set(&l.Flavor, "ad")
	a := &l.Attributes
	if l.Flavor == "openldap" {
		set(&l.UserFilter, "(objectClass=inetOrgPerson)")
		set(&l.GroupFilter, "(objectClass=groupOfNames)")
		set(&l.NestedGroups, "expand")
		set(&a.ID, "entryUUID")
		set(&a.UPN, "mail")
		set(&a.DisplayName, "cn")
	} else {
		set(&l.UserFilter, "(&(objectCategory=person)(objectClass=user))")
		set(&l.GroupFilter, "(objectClass=group)")
		set(&l.NestedGroups, "in_chain")
		set(&a.ID, "objectGUID")
		set(&a.UPN, "userPrincipalName")
		set(&a.DisplayName, "displayName")
		set(&a.UserAccountControl, "userAccountControl")
	}
	set(&a.Email, "mail")
	set(&a.MemberOf, "memberOf")
	set(&a.GroupName, "cn")
	set(&a.GroupDescription, "description")
	set(&a.GroupMember, "member")
	if len(l.GroupBaseDNs) == 0 {
		l.GroupBaseDNs = l.UserBaseDNs
	}
	if l.DisableGrace == 0 {
		l.DisableGrace = Duration(7 * 24 * time.Hour)
	}
	if l.MaxDisablePercent == 0 {
		l.MaxDisablePercent = 10
	}
	if l.Timeout == 0 {
		l.Timeout = Duration(10 * time.Second)
	}
	if l.PageSize == 0 {
		l.PageSize = 500
	}
	return l
}

// validateDirectory checks the directory section (only when a connector is configured).
func (c *Config) validateDirectory() Errors {
	l := c.Directory.LDAP
	if !l.Enabled() {
		return nil
	}
	var errs Errors
	bad := func(path, format string, args ...any) {
		errs = append(errs, Error{Path: "directory.ldap." + path, Msg: fmt.Sprintf(format, args...)})
	}
	u, err := url.Parse(strings.TrimSpace(l.URL))
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "ldap" && u.Scheme != "ldaps"):
		bad("url", "must be ldaps://host[:port] or ldap://host[:port], got %q", l.URL)
	case u.Scheme == "ldaps" && l.StartTLS:
		bad("start_tls", "is for ldap:// URLs; an ldaps:// connection is TLS from the start")
	case u.Scheme == "ldap" && !l.StartTLS && !l.AllowInsecure:
		bad("url", "%s is plain LDAP: passwords would cross the network in clear text; use ldaps://, set start_tls: true, or (test networks only) allow_insecure: true", l.URL)
	}
	if strings.TrimSpace(l.BindDN) == "" {
		bad("bind_dn", "the service account's DN is needed to search the directory")
	} else if _, err := ldap.ParseDN(l.BindDN); err != nil {
		bad("bind_dn", "%q is not a DN: %v", l.BindDN, err)
	}
	if (l.BindPasswordFile == "") == (l.BindPasswordEnv == "") {
		bad("bind_password_file", "give exactly one of bind_password_file and bind_password_env (the password itself is never in this file)")
	}
	switch l.Flavor {
	case "", "ad", "openldap":
	default:
		bad("flavor", "unknown flavor %q; use ad or openldap", l.Flavor)
	}
	d := l.WithDefaults()
	if len(d.UserBaseDNs) == 0 {
		bad("user_base_dns", "give at least one base DN to search users under")
	}
	for key, dns := range map[string][]string{"user_base_dns": d.UserBaseDNs, "group_base_dns": d.GroupBaseDNs} {
		for i, dn := range dns {
			if _, err := ldap.ParseDN(dn); err != nil || strings.TrimSpace(dn) == "" {
				bad(fmt.Sprintf("%s[%d]", key, i), "%q is not a DN", dn)
			}
		}
	}
	for key, f := range map[string]string{"user_filter": d.UserFilter, "group_filter": d.GroupFilter} {
		if _, err := ldap.CompileFilter(f); err != nil {
			bad(key, "%q is not an LDAP filter: %v", f, err)
		}
	}
	switch d.NestedGroups {
	case "in_chain", "expand", "none":
	default:
		bad("nested_groups", "unknown mode %q; use in_chain, expand or none", d.NestedGroups)
	}
	if l.SyncInterval.D() != 0 && l.SyncInterval.D() < time.Minute {
		bad("sync_interval", "must be 0 (no scheduled sync) or at least 1m, got %v", l.SyncInterval.D())
	}
	if l.DisableGrace.D() < 0 {
		bad("disable_grace", "must not be negative")
	}
	if l.MaxDisablePercent < 0 || l.MaxDisablePercent > 100 {
		bad("max_disable_percent", "must be between 1 and 100, got %d", l.MaxDisablePercent)
	}
	if l.Timeout.D() < 0 || l.PageSize < 0 || l.PageSize > 10000 {
		bad("timeout", "timeout must not be negative and page_size must be between 1 and 10000")
	}
	return errs
}
