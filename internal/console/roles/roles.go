// Package roles says what an administrator of the console may do. A role is membership of a
// group: sekisho-admins (everything), sekisho-helpdesk (users, their factors, lockout and
// devices, the sign-in log; not networks, policy, applications or keys), sekisho-auditors
// (read everything, change nothing). The gate lets only members of one of these groups into
// sekisho-admin at all; the console then checks the role on every page and every change.
package roles

import "slices"

// Role is what a console user may do.
type Role string

const (
	None     Role = ""
	Admin    Role = "admin"
	Helpdesk Role = "helpdesk"
	Auditor  Role = "auditor"
)

// The groups that carry the roles.
const (
	AdminGroup    = "sekisho-admins"
	HelpdeskGroup = "sekisho-helpdesk"
	AuditorGroup  = "sekisho-auditors"
)

// Of returns the strongest role the groups carry.
func Of(groups []string) Role {
	switch {
	case slices.Contains(groups, AdminGroup):
		return Admin
	case slices.Contains(groups, HelpdeskGroup):
		return Helpdesk
	case slices.Contains(groups, AuditorGroup):
		return Auditor
	}
	return None
}

// Area is a part of the console.
type Area string

const (
	Dashboard Area = "dashboard"
	Users     Area = "users"   // users, their factors, lockout and devices
	SignIns   Area = "signins" // the sign-in log and its export
	Audit     Area = "audit"   // the admin audit log
	Networks  Area = "networks"
	Policy    Area = "policy"
	Reports   Area = "reports"
	Keys      Area = "keys"      // token-signing keys
	Apps      Area = "apps"      // SAML applications and Microsoft 365 domains
	Tokens    Area = "tokens"    // admin API tokens
	Directory Area = "directory" // directory connectors and their syncs
)

// CanRead reports whether role may see area.
func (r Role) CanRead(a Area) bool {
	switch r {
	case Admin, Auditor:
		return true
	case Helpdesk:
		return a == Dashboard || a == Users || a == SignIns
	}
	return false
}

// CanChange reports whether role may change things in area.
func (r Role) CanChange(a Area) bool {
	switch r {
	case Admin:
		return true
	case Helpdesk:
		return a == Users
	}
	return false
}
