package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/admin"
	"github.com/sekisho/sekisho/internal/config"
	"github.com/sekisho/sekisho/internal/console/roles"
	"github.com/sekisho/sekisho/internal/devicecert"
	"github.com/sekisho/sekisho/internal/directory"
	"github.com/sekisho/sekisho/internal/keys"
	"github.com/sekisho/sekisho/internal/m365"
	"github.com/sekisho/sekisho/internal/m365/federation"
	"github.com/sekisho/sekisho/internal/policy"
	"github.com/sekisho/sekisho/internal/protocol/oidc"
	"github.com/sekisho/sekisho/internal/protocol/saml"
	"github.com/sekisho/sekisho/internal/published"
	"github.com/sekisho/sekisho/internal/simulate"
	"github.com/sekisho/sekisho/internal/store"
)

// maxList bounds a list answer; the answer says how many matched in all.
const maxList = 500

func limitOf(c *call) (int, error) {
	s := c.query("limit")
	if s == "" {
		return maxList, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxList {
		return 0, invalid(fmt.Sprintf("limit %q: a number from 1 to %d", s, maxList))
	}
	return n, nil
}

func sinceOf(s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, invalid(fmt.Sprintf("since %q: a duration such as 7d or 12h", s))
	}
	return d, nil
}

// user reads the user the path names.
func (a *API) user(c *call) (store.User, error) {
	u, err := a.Store.GetUserByUPN(c.ctx, c.path("upn"))
	if err != nil {
		return u, fmt.Errorf("user %s: %w", c.path("upn"), err)
	}
	return u, nil
}

func (a *API) userView(c *call, upn string) (admin.UserView, error) {
	u, err := a.Store.GetUserByUPN(c.ctx, upn)
	if err != nil {
		return admin.UserView{}, internal(err)
	}
	return admin.ViewOf(u), nil
}

// compiled is the draft doc compiled against the stored networks, or the policy in force.
func (a *API) compiled(c *call, doc string) (*published.Compiled, error) {
	var draft []byte
	if doc != "" {
		draft = []byte(doc)
	}
	comp, err := simulate.Compile(c.ctx, a.Store, "policy.yaml", draft)
	if err != nil {
		return nil, policyProblem(err)
	}
	return comp, nil
}

// policyProblem is a 422 listing every problem of a document with its line.
func policyProblem(err error) error {
	var es policy.Errors
	var one *policy.Error
	p := &Problem{Status: http.StatusUnprocessableEntity, Code: "invalid_policy", Detail: "the policy document has problems"}
	switch {
	case errors.As(err, &es):
		for _, e := range es {
			p.Errors = append(p.Errors, ProblemError{Line: e.Line, Message: e.Msg})
		}
	case errors.As(err, &one):
		p.Errors = []ProblemError{{Line: one.Line, Message: one.Msg}}
	case errors.Is(err, simulate.ErrNoPolicy):
		p.Code, p.Detail = "no_policy", "no policy is published; send a document"
	default:
		return err
	}
	return p
}

// lifetimeOf reads a duration field of a request ("" is zero: the default).
func lifetimeOf(field, s string) (time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, invalid(fmt.Sprintf("%s %q: a duration such as 10m, 24h or 14d", field, s))
	}
	return d, nil
}

// edit is the change as an edit of the stored settings (the durations read first).
func (in OIDCClientChange) edit() (func(*oidc.ClientConfig) error, error) {
	durs := map[string]time.Duration{}
	for name, v := range map[string]*string{"accessTokenLifetime": in.AccessTokenLifetime, "idTokenLifetime": in.IDTokenLifetime,
		"refreshTokenLifetime": in.RefreshTokenLifetime} {
		if v != nil {
			d, err := lifetimeOf(name, *v)
			if err != nil {
				return nil, err
			}
			durs[name] = d
		}
	}
	return func(c *oidc.ClientConfig) error {
		for _, l := range []struct {
			set *[]string
			to  *[]string
		}{{in.RedirectURIs, &c.RedirectURIs}, {in.Grants, &c.Grants}, {in.Scopes, &c.Scopes}, {in.PostLogoutRedirectURIs, &c.PostLogoutRedirectURIs}} {
			if l.set != nil {
				*l.to = slices.Clone(*l.set)
			}
		}
		for name, to := range map[string]*config.Duration{"accessTokenLifetime": &c.AccessTokenLifetime, "idTokenLifetime": &c.IDTokenLifetime,
			"refreshTokenLifetime": &c.RefreshTokenLifetime} {
			if d, ok := durs[name]; ok {
				*to = config.Duration(d)
			}
		}
		if in.SubjectType != nil {
			c.SubjectType = *in.SubjectType
		}
		if in.BackchannelLogoutURI != nil {
			c.BackchannelLogoutURI = strings.TrimSpace(*in.BackchannelLogoutURI)
		}
		return nil
	}, nil
}

func days(n int) time.Duration { return time.Duration(n) * 24 * time.Hour }

func (a *API) issued(is admin.IssuedDevice) IssuedDevice {
	return IssuedDevice{Device: admin.ViewOfDevice(is.Device, is.User.UPN), DownloadURL: a.BaseURL + devicecert.DownloadPath + is.Token,
		PKCS12Password: is.Password}
}

var exampleAppPassword = AppPassword{BridgeCredentialView: admin.BridgeCredentialView{ID: "5b0f3c1e-7d2a-4e5b-9a61-0c8d2f4e7a10", User: "scanner@example.com",
	Name: "printer-3f", Scopes: []string{"smtp-send"}, From: []string{"scans@example.com"}, CreatedBy: "admin@example.com",
	CreatedAt: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC), ExpiresAt: time.Date(2027, 12, 4, 9, 0, 0, 0, time.UTC),
	LastUsedAt: time.Date(2027, 1, 15, 8, 30, 0, 0, time.UTC), LastIP: "203.0.113.40"}, State: "active"}

// appPasswords lists user's app passwords (everyone's for ""), only those in state when given.
func (a *API) appPasswords(c *call, user, state string) ([]AppPassword, error) {
	switch state {
	case "", "active", "revoked", "expired":
	default:
		return nil, invalid(fmt.Sprintf("state %q: active, revoked or expired", state))
	}
	vs, err := a.Admin.ListBridgeCredentials(c.ctx, user)
	if errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil {
		return nil, internal(err)
	}
	now := a.Now()
	out := []AppPassword{}
	for _, v := range vs {
		if p := appPasswordOf(v, now); state == "" || p.State == state {
			out = append(out, p)
		}
	}
	return out, nil
}

// mailboxError is the problem of a mailbox connection that could not be read: the service's
// sentence when the upstream keeps no grant per mailbox (422), not connected or no such user
// (404), else a failure of Sekisho.
func (a *API) mailboxError(err error) error {
	if !a.Admin.BridgeUpstreamDelegated() || errors.Is(err, store.ErrNotFound) {
		return err
	}
	return internal(err)
}

var exampleUser = admin.UserView{UPN: "taro@example.com", DisplayName: "山田 太郎", Email: "taro@example.com", Status: "active",
	Groups: []string{"sales", "staff"}, HasPassword: true}

func operations(a *API) []*operation {
	const (
		tUsers, tGroups, tNetworks, tPolicy, tApps, tDevices = "users", "groups", "networks", "policy", "applications", "devices"
		tLog, tKeys, tTokens, tMe, tBridge                   = "logs", "keys", "tokens", "me", "mail-bridge"
		tDirectory                                           = "directory"
	)
	upnQ := []param{{"q", "part of the UPN or display name", "string"}, {"limit", "at most this many (1–500, default 500)", "integer"}}
	return []*operation{
		op("GET", "/me", spec{id: "getMe", summary: "show the token and its owner", tag: tMe, area: roles.Dashboard},
			func(c *call, _ none) (Me, error) {
				return Me{User: admin.ViewOf(c.user), OwnerRole: string(roles.Of(c.user.Groups)), Token: admin.ViewOfToken(c.token, c.user.UPN)}, nil
			}),

		// ---- users ----
		op("GET", "/users", spec{id: "listUsers", summary: "list users", tag: tUsers, area: roles.Users, query: upnQ,
			outExample: UserList{Users: []admin.UserView{exampleUser}, Matched: 1}},
			func(c *call, _ none) (UserList, error) {
				n, err := limitOf(c)
				if err != nil {
					return UserList{}, err
				}
				m, err := a.Admin.FindUsers(c.ctx, c.query("q"), n)
				if err != nil {
					return UserList{}, internal(err)
				}
				out := UserList{Users: []admin.UserView{}, Matched: m.Matched, Truncated: m.Matched > len(m.Users)}
				for _, u := range m.Users {
					out.Users = append(out.Users, admin.ViewOf(u))
				}
				return out, nil
			}),
		op("POST", "/users", spec{id: "createUser", summary: "create a user with a one-time password", tag: tUsers, area: roles.Users, change: true,
			status: http.StatusCreated, inExample: NewUser{UPN: "taro@example.com", DisplayName: "山田 太郎", Groups: []string{"staff"}}},
			func(c *call, in NewUser) (CreatedUser, error) {
				pw, err := directory.GeneratePassword()
				if err != nil {
					return CreatedUser{}, internal(err)
				}
				u, err := a.Admin.AddUser(c.ctx, c.actor, directory.NewUser{UPN: in.UPN, DisplayName: in.DisplayName, Email: in.Email,
					Groups: in.Groups, Password: pw, Temporary: true})
				if err != nil {
					return CreatedUser{}, err
				}
				return CreatedUser{User: admin.ViewOf(u), Password: pw}, nil
			}),
		op("POST", "/users/import", spec{id: "importUsers", summary: "create users from an Entra ID user export", tag: tUsers, area: roles.Users,
			change: true, inExample: ImportRequest{CSV: "userPrincipalName,displayName\nhanako@example.com,佐藤 花子\n", Groups: []string{"staff"}}},
			func(c *call, in ImportRequest) (ImportResult, error) {
				rows, err := a.Admin.ImportUsers(c.ctx, c.actor, strings.NewReader(in.CSV), in.Groups)
				if err != nil {
					return ImportResult{}, err
				}
				out := ImportResult{Rows: []ImportRow{}}
				for _, r := range rows {
					out.Rows = append(out.Rows, ImportRow{r.Line, r.UPN, r.Action, r.Detail})
				}
				out.Created, out.Skipped, out.Errors = directory.Tally(rows)
				return out, nil
			}),
		op("GET", "/users/{upn}", spec{id: "getUser", summary: "show a user and their devices", tag: tUsers, area: roles.Users},
			func(c *call, _ none) (UserDetail, error) {
				u, err := a.user(c)
				if err != nil {
					return UserDetail{}, err
				}
				devs, err := a.Store.ListDevices(c.ctx, u.ID)
				if err != nil {
					return UserDetail{}, internal(err)
				}
				out := UserDetail{User: admin.ViewOf(u), Devices: []admin.DeviceView{}}
				for _, d := range devs {
					out.Devices = append(out.Devices, admin.ViewOfDevice(d, u.UPN))
				}
				return out, nil
			}),
		op("DELETE", "/users/{upn}", spec{id: "deleteUser", summary: "delete a user", tag: tUsers, area: roles.Users, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) { return none{}, a.Admin.DeleteUser(c.ctx, c.actor, c.path("upn")) }),
		op("POST", "/users/{upn}/disable", spec{id: "disableUser", summary: "disable a user (their sessions end)", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (admin.UserView, error) {
				if err := a.Admin.SetStatus(c.ctx, c.actor, c.path("upn"), store.UserDisabled); err != nil {
					return admin.UserView{}, err
				}
				return a.userView(c, c.path("upn"))
			}),
		op("POST", "/users/{upn}/enable", spec{id: "enableUser", summary: "enable a user", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (admin.UserView, error) {
				if err := a.Admin.SetStatus(c.ctx, c.actor, c.path("upn"), store.UserActive); err != nil {
					return admin.UserView{}, err
				}
				return a.userView(c, c.path("upn"))
			}),
		op("POST", "/users/{upn}/reset-password", spec{id: "resetPassword", summary: "give a user a one-time password", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (OneTimePassword, error) {
				pw, err := directory.GeneratePassword()
				if err != nil {
					return OneTimePassword{}, internal(err)
				}
				return OneTimePassword{Password: pw}, a.Admin.SetPassword(c.ctx, c.actor, c.path("upn"), pw, true)
			}),
		op("POST", "/users/{upn}/reset-factors", spec{id: "resetFactors", summary: "remove a user's second factors", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (admin.UserView, error) {
				u, err := a.Admin.ResetFactors(c.ctx, c.actor, c.path("upn"))
				return admin.ViewOf(u), err
			}),
		op("POST", "/users/{upn}/emergency-codes", spec{id: "emergencyCodes", summary: "give a user ten new emergency codes", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (EmergencyCodes, error) {
				_, codes, err := a.Admin.EmergencyCodes(c.ctx, c.actor, c.path("upn"), 10)
				return EmergencyCodes{Codes: codes}, err
			}),
		op("POST", "/users/{upn}/unlock", spec{id: "unlockUser", summary: "clear a user's smart-lockout counters", tag: tUsers, area: roles.Users, change: true},
			func(c *call, _ none) (admin.UserView, error) {
				u, err := a.Admin.Unlock(c.ctx, c.actor, c.path("upn"))
				return admin.ViewOf(u), err
			}),

		// ---- groups ----
		op("GET", "/groups", spec{id: "listGroups", summary: "list groups", tag: tGroups, area: roles.Users},
			func(c *call, _ none) ([]Group, error) {
				gs, err := a.Store.ListGroups(c.ctx)
				if err != nil {
					return nil, internal(err)
				}
				out := []Group{}
				for _, g := range gs {
					ms, err := a.Store.ListMembers(c.ctx, g.Name)
					if err != nil {
						return nil, internal(err)
					}
					out = append(out, Group{g.Name, g.Description, len(ms)})
				}
				return out, nil
			}),
		op("POST", "/groups", spec{id: "createGroup", summary: "create a group", tag: tGroups, area: roles.Users, change: true, status: http.StatusCreated,
			inExample: NewGroup{Name: "sales", Description: "Sales team"}},
			func(c *call, in NewGroup) (Group, error) {
				return Group{Name: in.Name, Description: in.Description}, a.Admin.AddGroup(c.ctx, c.actor, in.Name, in.Description)
			}),
		op("PUT", "/groups/{group}/members/{upn}", spec{id: "addMember", summary: "add a user to a group", tag: tGroups, area: roles.Users, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				return none{}, a.Admin.SetMember(c.ctx, c.actor, c.path("group"), c.path("upn"), true)
			}),
		op("DELETE", "/groups/{group}/members/{upn}", spec{id: "removeMember", summary: "remove a user from a group", tag: tGroups, area: roles.Users, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				return none{}, a.Admin.SetMember(c.ctx, c.actor, c.path("group"), c.path("upn"), false)
			}),

		// ---- networks ----
		op("GET", "/networks", spec{id: "listNetworks", summary: "list named networks", tag: tNetworks, area: roles.Networks},
			func(c *call, _ none) ([]Network, error) {
				ns, err := a.Store.ListNetworks(c.ctx)
				if err != nil {
					return nil, internal(err)
				}
				out := []Network{}
				for _, n := range ns {
					out = append(out, Network{n.Name, n.Description, n.CIDRs, n.UpdatedAt})
				}
				return out, nil
			}),
		op("PUT", "/networks/{name}", spec{id: "setNetwork", summary: "create or replace a named network", tag: tNetworks, area: roles.Networks, change: true,
			inExample: NetworkSettings{Description: "Tokyo office", CIDRs: []string{"203.0.113.0/24", "2001:db8:100::/48"}}},
			func(c *call, in NetworkSettings) (Network, error) {
				if err := a.Admin.SetNetwork(c.ctx, c.actor, c.path("name"), in.Description, in.CIDRs); err != nil {
					return Network{}, err
				}
				n, err := a.Store.GetNetwork(c.ctx, c.path("name"))
				return Network{n.Name, n.Description, n.CIDRs, n.UpdatedAt}, internal(err)
			}),
		op("DELETE", "/networks/{name}", spec{id: "deleteNetwork", summary: "delete a network the policy does not name", tag: tNetworks, area: roles.Networks, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				return none{}, a.Admin.DeleteNetwork(c.ctx, c.actor, c.path("name"))
			}),

		// ---- policy ----
		op("GET", "/policy", spec{id: "getPolicy", summary: "show the policy in force", tag: tPolicy, area: roles.Policy},
			func(c *call, _ none) (PolicyVersion, error) {
				v, err := a.Store.LatestPolicyVersion(c.ctx)
				if err != nil {
					return PolicyVersion{}, fmt.Errorf("no policy is published: %w", err)
				}
				return policyOf(v, true), nil
			}),
		op("GET", "/policy/versions", spec{id: "listPolicyVersions", summary: "list the policy's versions, newest first", tag: tPolicy, area: roles.Policy},
			func(c *call, _ none) ([]PolicyVersion, error) {
				vs, err := a.Store.ListPolicyVersions(c.ctx)
				if err != nil {
					return nil, internal(err)
				}
				out := []PolicyVersion{}
				for _, v := range vs {
					out = append(out, policyOf(v, false))
				}
				return out, nil
			}),
		op("GET", "/policy/versions/{version}", spec{id: "getPolicyVersion", summary: "show one version of the policy", tag: tPolicy, area: roles.Policy},
			func(c *call, _ none) (PolicyVersion, error) {
				n, err := strconv.ParseInt(c.path("version"), 10, 64)
				if err != nil {
					return PolicyVersion{}, invalid("version: a number")
				}
				v, err := a.Store.GetPolicyVersion(c.ctx, n)
				if err != nil {
					return PolicyVersion{}, fmt.Errorf("policy version %d: %w", n, err)
				}
				return policyOf(v, true), nil
			}),
		op("POST", "/policy/check", spec{id: "checkPolicy", summary: "check a policy document against the stored networks", tag: tPolicy, area: roles.Policy,
			inExample: PolicyDocument{Document: "version: 1\ndefault: deny\nrules:\n  - name: office\n    networks: [office]\n    action: allow\n"}},
			func(c *call, in PolicyDocument) (PolicyCheck, error) {
				if strings.TrimSpace(in.Document) == "" {
					return PolicyCheck{}, invalid("document: empty")
				}
				if _, err := a.compiled(c, in.Document); err != nil {
					return PolicyCheck{}, err
				}
				return PolicyCheck{OK: true}, nil
			}),
		op("POST", "/policy/what-if", spec{id: "whatIf", summary: "judge a sign-in under the policy in force or a draft", tag: tPolicy, area: roles.Policy,
			inExample: WhatIf{User: "taro@example.com", Application: "microsoft365", ClientType: "browser", IP: "198.51.100.7"}},
			func(c *call, in WhatIf) (WhatIfAnswer, error) {
				ip, err := netip.ParseAddr(strings.TrimSpace(in.IP))
				if err != nil {
					return WhatIfAnswer{}, invalid(fmt.Sprintf("ip %q: an IPv4 or IPv6 address", in.IP))
				}
				comp, err := a.compiled(c, in.Document)
				if err != nil {
					return WhatIfAnswer{}, err
				}
				if in.ClientType == "" {
					in.ClientType = "browser"
				}
				ans := simulate.WhatIf(c.ctx, a.Store, comp, simulate.Question{User: in.User, Application: in.Application, ClientType: in.ClientType,
					LegacyApp: in.LegacyApp, IP: ip, MFA: in.MFA, Device: in.Device, Time: a.Now()})
				tr, err := json.Marshal(ans.Decision.Trace)
				if err != nil {
					return WhatIfAnswer{}, internal(err)
				}
				inside := ans.Inside
				if inside == nil {
					inside = []string{}
				}
				return WhatIfAnswer{Decision: ans.Decision.Action.Decision(), Rule: ans.Decision.Rule, InsideNetworks: inside,
					Explanation: ans.Decision.Trace.Text("en"), Trace: tr}, nil
			}),
		op("POST", "/policy/replay", spec{id: "replayPolicy", summary: "replay recorded sign-ins under a draft and list the changed outcomes", tag: tPolicy, area: roles.Policy,
			inExample: Replay{Document: "version: 1\ndefault: deny\n", Since: "7d"}},
			func(c *call, in Replay) (simulate.Result, error) {
				since, err := sinceOf(in.Since, 7*24*time.Hour)
				if err != nil {
					return simulate.Result{}, err
				}
				comp, err := a.compiled(c, in.Document)
				if err != nil {
					return simulate.Result{}, err
				}
				res, err := simulate.ReplayStored(c.ctx, a.Store, comp.Policy, a.Now().Add(-since))
				if err != nil {
					return res, internal(err)
				}
				if res.Rows == nil {
					res.Rows = []simulate.Row{}
				}
				slices.SortStableFunc(res.Rows, func(x, y simulate.Row) int { return y.Count - x.Count })
				return res, nil
			}),
		op("POST", "/policy", spec{id: "publishPolicy", summary: "publish a policy document over the version it was edited from", tag: tPolicy, area: roles.Policy,
			change: true, status: http.StatusCreated, inExample: Publish{Document: "version: 1\ndefault: deny\n", Comment: "office only", BaseVersion: 3}},
			func(c *call, in Publish) (PolicyVersion, error) {
				if _, err := a.compiled(c, in.Document); err != nil {
					return PolicyVersion{}, err
				}
				v, err := a.Admin.PublishPolicyOver(c.ctx, c.actor, "policy.yaml", []byte(in.Document), in.Comment, in.BaseVersion)
				if err != nil {
					return PolicyVersion{}, err
				}
				return policyOf(v, true), nil
			}),
		op("POST", "/policy/rollback", spec{id: "rollbackPolicy", summary: "publish an earlier version again", tag: tPolicy, area: roles.Policy, change: true,
			status: http.StatusCreated, inExample: Rollback{Version: 2}},
			func(c *call, in Rollback) (PolicyVersion, error) {
				v, err := a.Admin.RollbackPolicy(c.ctx, c.actor, in.Version)
				if err != nil {
					return PolicyVersion{}, err
				}
				return policyOf(v, true), nil
			}),

		// ---- applications and Microsoft 365 domains ----
		op("GET", "/applications", spec{id: "listApplications", summary: "list applications: SAML service providers and OpenID Connect clients (protocol saml or oidc)", tag: tApps, area: roles.Apps},
			func(c *call, _ none) ([]Application, error) {
				as, err := a.Store.ListApplications(c.ctx)
				if err != nil {
					return nil, internal(err)
				}
				out := []Application{}
				for _, x := range as {
					if x.Protocol == "saml" || x.Protocol == oidc.Protocol {
						out = append(out, applicationOf(x))
					}
				}
				return out, nil
			}),
		op("POST", "/applications", spec{id: "addApplication", summary: "register a SAML service provider from its metadata", tag: tApps, area: roles.Apps,
			change: true, status: http.StatusCreated, inExample: NewApplication{Name: "wiki", Metadata: "<md:EntityDescriptor …>"}},
			func(c *call, in NewApplication) (Application, error) {
				sp, err := saml.ParseSPMetadata([]byte(in.Metadata))
				if err != nil {
					return Application{}, invalid("metadata: " + err.Error())
				}
				if _, err := a.Admin.AddApplication(c.ctx, c.actor, in.Name, sp); err != nil {
					return Application{}, err
				}
				x, err := a.Store.GetApplication(c.ctx, strings.TrimSpace(in.Name))
				return applicationOf(x), internal(err)
			}),
		op("DELETE", "/applications/{name}", spec{id: "removeApplication", summary: "remove an application (an OpenID Connect client's refresh tokens go with it)", tag: tApps, area: roles.Apps, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				return none{}, a.Admin.RemoveApplication(c.ctx, c.actor, c.path("name"))
			}),
		op("POST", "/applications/oidc", spec{id: "addOIDCClient", summary: "register an OpenID Connect client (a confidential client's secret is shown once)", tag: tApps, area: roles.Apps,
			change: true, status: http.StatusCreated, inExample: NewOIDCClient{Name: "grafana", RedirectURIs: []string{"https://grafana.example.com/login/generic_oauth"},
				Grants: []string{"authorization_code", "refresh_token"}, RefreshTokenLifetime: "14d"}},
			func(c *call, in NewOIDCClient) (AddedOIDCClient, error) {
				nc := admin.NewOIDCClient{Public: in.Public, RedirectURIs: in.RedirectURIs, Grants: in.Grants, Scopes: in.Scopes, SubjectType: in.SubjectType,
					PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, BackchannelLogoutURI: in.BackchannelLogoutURI}
				for _, l := range []struct {
					name, v string
					d       *time.Duration
				}{{"accessTokenLifetime", in.AccessTokenLifetime, &nc.AccessTokenLifetime}, {"idTokenLifetime", in.IDTokenLifetime, &nc.IDTokenLifetime},
					{"refreshTokenLifetime", in.RefreshTokenLifetime, &nc.RefreshTokenLifetime}} {
					var err error
					if *l.d, err = lifetimeOf(l.name, l.v); err != nil {
						return AddedOIDCClient{}, err
					}
				}
				added, err := a.Admin.AddOIDCClient(c.ctx, c.actor, in.Name, nc)
				if err != nil {
					return AddedOIDCClient{}, err
				}
				x, err := a.Store.GetApplication(c.ctx, added.Name)
				return AddedOIDCClient{Application: applicationOf(x), ClientID: added.Client.ClientID, ClientSecret: added.Secret}, internal(err)
			}),
		op("PATCH", "/applications/oidc/{name}", spec{id: "updateOIDCClient", summary: "change an OpenID Connect client's settings (only the fields given)", tag: tApps, area: roles.Apps,
			change: true, inExample: OIDCClientChange{RedirectURIs: &[]string{"https://grafana.example.com/login/generic_oauth", "https://grafana2.example.com/login/generic_oauth"}}},
			func(c *call, in OIDCClientChange) (Application, error) {
				edit, err := in.edit()
				if err != nil {
					return Application{}, err
				}
				if _, err := a.Admin.UpdateOIDCClient(c.ctx, c.actor, c.path("name"), edit); err != nil {
					return Application{}, err
				}
				x, err := a.Store.GetApplication(c.ctx, c.path("name"))
				return applicationOf(x), internal(err)
			}),
		op("POST", "/applications/oidc/{name}/rotate-secret", spec{id: "rotateOIDCSecret", summary: "give a confidential OpenID Connect client a new secret (shown once)", tag: tApps, area: roles.Apps,
			change: true, inExample: RotateSecret{KeepOld: "24h"}},
			func(c *call, in RotateSecret) (RotatedSecret, error) {
				keep, err := lifetimeOf("keepOld", in.KeepOld)
				if err != nil {
					return RotatedSecret{}, err
				}
				r, err := a.Admin.RotateOIDCSecret(c.ctx, c.actor, c.path("name"), keep)
				if err != nil {
					return RotatedSecret{}, err
				}
				out := RotatedSecret{ClientID: r.Client.ClientID, ClientSecret: r.Secret}
				if !r.PreviousExpires.IsZero() {
					out.PreviousSecretExpires = &r.PreviousExpires
				}
				return out, nil
			}),
		op("GET", "/domains", spec{id: "listDomains", summary: "list federated Microsoft 365 domains", tag: tApps, area: roles.Apps},
			func(c *call, _ none) ([]Domain, error) {
				ds, err := m365.LoadDomains(c.ctx, a.Store)
				if err != nil {
					return nil, internal(err)
				}
				out := []Domain{}
				for _, d := range ds {
					out = append(out, domainOf(d))
				}
				return out, nil
			}),
		op("PUT", "/domains/{name}", spec{id: "setDomain", summary: "federate a Microsoft 365 domain here, or change its settings", tag: tApps, area: roles.Apps, change: true,
			inExample: Domain{Name: "example.com", Protocol: "wsFed", InsideNetworks: []string{"office"}, EmitMFA: true,
				PromptLoginBehavior: "nativeSupport", MFABehavior: "acceptIfMfaDoneByFederatedIdp"}},
			func(c *call, in Domain) (Domain, error) {
				if in.Name != "" && !strings.EqualFold(in.Name, c.path("name")) {
					return Domain{}, invalid("name: the body names another domain than the URL")
				}
				added, err := a.Admin.AddDomain(c.ctx, c.actor, in.settings(c.path("name")))
				return domainOf(added.Domain), err
			}),
		op("DELETE", "/domains/{name}", spec{id: "removeDomain", summary: "stop federating a domain here", tag: tApps, area: roles.Apps, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				return none{}, a.Admin.RemoveDomain(c.ctx, c.actor, c.path("name"))
			}),
		op("GET", "/domains/{name}/federation", spec{id: "domainFederation", summary: "what to tell Entra ID, and what would break federation", tag: tApps, area: roles.Apps},
			func(c *call, _ none) (Federation, error) {
				name := c.path("name")
				cfg, err := federation.ForStored(c.ctx, a.Store, a.Admin.Keys, name, a.BaseURL)
				if err != nil {
					return Federation{}, err
				}
				ps, err := federation.CheckStored(c.ctx, a.Store, a.Admin.Keys, name, a.BaseURL, a.Now())
				if err != nil {
					return Federation{}, internal(err)
				}
				out := Federation{Domain: name, PowerShell: federation.PowerShell(name, cfg), Problems: []FederationProblem{}}
				for _, p := range ps {
					out.Problems = append(out.Problems, FederationProblem{p.Severity, p.Text})
				}
				return out, nil
			}),

		// ---- devices ----
		op("GET", "/devices", spec{id: "listDevices", summary: "list device certificates", tag: tDevices, area: roles.Users,
			query: []param{{"user", "only this user's (UPN)", "string"}, {"status", "issued, downloaded, in-use, revoked, replaced or expired", "string"}}},
			func(c *call, _ none) ([]admin.DeviceView, error) {
				uid, upns := "", map[string]string{}
				if upn := c.query("user"); upn != "" {
					u, err := a.Store.GetUserByUPN(c.ctx, upn)
					if err != nil {
						return nil, fmt.Errorf("user %s: %w", upn, err)
					}
					uid, upns[u.ID] = u.ID, u.UPN
				}
				devs, err := a.Store.ListDevices(c.ctx, uid)
				if err != nil {
					return nil, internal(err)
				}
				out := []admin.DeviceView{}
				for _, d := range devs {
					if s := c.query("status"); s != "" && d.Status != s {
						continue
					}
					upn, ok := upns[d.UserID]
					if !ok {
						if u, err := a.Store.GetUser(c.ctx, d.UserID); err == nil {
							upn = u.UPN
						}
						upns[d.UserID] = upn
					}
					out = append(out, admin.ViewOfDevice(d, upn))
				}
				return out, nil
			}),
		op("POST", "/devices", spec{id: "issueDevice", summary: "issue a device certificate (a one-time download link for the user)", tag: tDevices, area: roles.Users,
			change: true, status: http.StatusCreated, inExample: NewDevice{User: "taro@example.com", Name: "taro-laptop", Platform: "windows"}},
			func(c *call, in NewDevice) (IssuedDevice, error) {
				if in.ValidityDays < 0 {
					return IssuedDevice{}, invalid("validityDays: not negative")
				}
				is, err := a.Admin.IssueDevice(c.ctx, c.actor, in.User, in.Name, in.Platform, days(in.ValidityDays))
				if err != nil {
					return IssuedDevice{}, err
				}
				return a.issued(is), nil
			}),
		op("POST", "/devices/{id}/renew", spec{id: "renewDevice", summary: "issue a replacement certificate", tag: tDevices, area: roles.Users, change: true,
			status: http.StatusCreated, inExample: Renew{ValidityDays: 365}},
			func(c *call, in Renew) (IssuedDevice, error) {
				if in.ValidityDays < 0 {
					return IssuedDevice{}, invalid("validityDays: not negative")
				}
				is, err := a.Admin.RenewDevice(c.ctx, c.actor, c.path("id"), days(in.ValidityDays))
				if err != nil {
					return IssuedDevice{}, err
				}
				return a.issued(is), nil
			}),
		op("POST", "/devices/{id}/revoke", spec{id: "revokeDevice", summary: "revoke a device certificate (on the CRL at once)", tag: tDevices, area: roles.Users, change: true},
			func(c *call, _ none) (admin.DeviceView, error) {
				d, err := a.Admin.RevokeDevice(c.ctx, c.actor, c.path("id"))
				if err != nil {
					return admin.DeviceView{}, err
				}
				upn := ""
				if u, err := a.Store.GetUser(c.ctx, d.UserID); err == nil {
					upn = u.UPN
				}
				return admin.ViewOfDevice(d, upn), nil
			}),

		// ---- mail bridge: app passwords and mailbox connections ----
		op("GET", "/users/{upn}/app-passwords", spec{id: "listUserAppPasswords", summary: "list a user's mail bridge app passwords, revoked and expired ones too",
			tag: tBridge, area: roles.Users, outExample: []AppPassword{exampleAppPassword}},
			func(c *call, _ none) ([]AppPassword, error) { return a.appPasswords(c, c.path("upn"), "") }),
		op("POST", "/users/{upn}/app-passwords", spec{id: "issueAppPassword", summary: "issue a mail bridge app password for one device or program (shown once)",
			tag: tBridge, area: roles.Users, change: true, status: http.StatusCreated,
			inExample: NewAppPassword{Name: "printer-3f", Scopes: []string{"smtp-send"}, From: []string{"scans@example.com"}, LifetimeDays: 365}},
			func(c *call, in NewAppPassword) (IssuedAppPassword, error) {
				if in.LifetimeDays < 0 {
					return IssuedAppPassword{}, invalid("lifetimeDays: not negative")
				}
				is, err := a.Admin.IssueBridgeCredential(c.ctx, c.actor, admin.NewBridgeCredential{User: c.path("upn"), Name: in.Name, Scopes: in.Scopes,
					From: in.From, Lifetime: days(in.LifetimeDays)})
				if err != nil {
					return IssuedAppPassword{}, err
				}
				return IssuedAppPassword{AppPassword: appPasswordOf(is.BridgeCredentialView, a.Now()), Password: is.Password}, nil
			}),
		op("DELETE", "/users/{upn}/app-passwords/{name}", spec{id: "revokeAppPassword", summary: "revoke a user's app password at once (open connections close within bridge.recheck)",
			tag: tBridge, area: roles.Users, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				_, err := a.Admin.RevokeBridgeCredential(c.ctx, c.actor, c.path("upn"), c.path("name"))
				return none{}, err
			}),
		op("GET", "/app-passwords", spec{id: "listAppPasswords", summary: "list every user's mail bridge app passwords (an inventory)", tag: tBridge, area: roles.Users,
			query: []param{{"user", "only this user's (UPN)", "string"}, {"state", "active, revoked or expired", "string"}}, outExample: []AppPassword{exampleAppPassword}},
			func(c *call, _ none) ([]AppPassword, error) {
				return a.appPasswords(c, c.query("user"), c.query("state"))
			}),
		op("GET", "/users/{upn}/mailbox-connection", spec{id: "getMailboxConnection", summary: "show a user's mailbox connection to the mail bridge's upstream token service",
			tag: tBridge, area: roles.Users},
			func(c *call, _ none) (MailboxConnection, error) {
				v, err := a.Admin.BridgeUpstreamOf(c.ctx, c.path("upn"))
				if err != nil {
					return MailboxConnection{}, a.mailboxError(err)
				}
				return MailboxConnection{BridgeUpstreamView: v, State: v.State()}, nil
			}),
		op("DELETE", "/users/{upn}/mailbox-connection", spec{id: "disconnectMailbox", summary: "disconnect a user's mailbox: the stored grant is deleted and the bridge refuses the user's logins",
			tag: tBridge, area: roles.Users, change: true, status: http.StatusNoContent},
			func(c *call, _ none) (none, error) {
				_, err := a.Admin.DisconnectBridgeUpstream(c.ctx, c.actor, c.path("upn"))
				return none{}, err
			}),

		// ---- sign-in log, admin audit log, report ----
		op("GET", "/signins", spec{id: "listSignIns", summary: "list sign-in records, newest first", tag: tLog, area: roles.SignIns,
			query: []param{{"user", "the UPN as attempted", "string"}, {"application", "", "string"}, {"decision", "allow, deny, mfa_required, device_required or error", "string"},
				{"clientType", "", "string"}, {"ip", "effective, peer or forwarded address", "string"}, {"since", "how far back (default 24h)", "string"},
				{"limit", "at most this many (1–500, default 500)", "integer"}}},
			func(c *call, _ none) (SignInList, error) {
				n, err := limitOf(c)
				if err != nil {
					return SignInList{}, err
				}
				since, err := sinceOf(c.query("since"), 24*time.Hour)
				if err != nil {
					return SignInList{}, err
				}
				f := store.SignInFilter{Since: a.Now().Add(-since), Username: c.query("user"), Application: c.query("application"),
					Decision: c.query("decision"), ClientType: c.query("clientType"), IP: c.query("ip")}
				out := SignInList{SignIns: []SignIn{}}
				err = a.Store.EachSignIn(c.ctx, f, func(e store.SignInEvent) error {
					out.Matched++
					out.SignIns = append(out.SignIns, signInOf(e, false))
					if len(out.SignIns) > n {
						out.SignIns = out.SignIns[1:]
					}
					return nil
				})
				if err != nil {
					return SignInList{}, internal(err)
				}
				slices.Reverse(out.SignIns)
				out.Truncated = out.Matched > len(out.SignIns)
				return out, nil
			}),
		op("GET", "/signins/{id}", spec{id: "getSignIn", summary: "show one sign-in record with the policy's trace", tag: tLog, area: roles.SignIns},
			func(c *call, _ none) (SignIn, error) {
				e, err := a.Store.GetSignIn(c.ctx, c.path("id"))
				if err != nil {
					return SignIn{}, fmt.Errorf("sign-in record %s: %w", c.path("id"), err)
				}
				return signInOf(e, true), nil
			}),
		op("GET", "/audit", spec{id: "listAudit", summary: "list admin audit entries, newest first", tag: tLog, area: roles.Audit,
			query: []param{{"actor", "", "string"}, {"action", "exact, or a prefix ending in a dot (user.)", "string"}, {"target", "", "string"},
				{"since", "how far back (default 30d)", "string"}, {"limit", "at most this many (1–500, default 500)", "integer"}}},
			func(c *call, _ none) ([]AuditEntry, error) {
				n, err := limitOf(c)
				if err != nil {
					return nil, err
				}
				since, err := sinceOf(c.query("since"), 30*24*time.Hour)
				if err != nil {
					return nil, err
				}
				evs, err := a.Admin.Log(c.ctx, store.AdminEventFilter{Since: a.Now().Add(-since), Actor: c.query("actor"), Action: c.query("action"),
					Target: c.query("target"), Limit: n})
				if err != nil {
					return nil, internal(err)
				}
				out := []AuditEntry{}
				for _, e := range slices.Backward(evs) {
					out = append(out, AuditEntry{e.ID, e.Time, e.Actor, e.Via, e.Action, e.Target, rawOrNil(e.Before), rawOrNil(e.After)})
				}
				return out, nil
			}),
		op("GET", "/reports/legacy-auth", spec{id: "legacyAuthReport", summary: "the legacy-authentication impact report over Sekisho's sign-in log (the JSON of sekisho report --format json)", tag: tLog,
			area: roles.Reports, query: []param{{"since", "how far back (default 30d)", "string"}}},
			func(c *call, _ none) (json.RawMessage, error) {
				since, err := sinceOf(c.query("since"), 30*24*time.Hour)
				if err != nil {
					return nil, err
				}
				rep, err := a.Report(c.ctx, a.Now().Add(-since))
				if err != nil {
					return nil, internal(err)
				}
				var b bytes.Buffer
				if err := rep.WriteJSON(&b); err != nil {
					return nil, internal(err)
				}
				return b.Bytes(), nil
			}),

		// ---- keys ----
		op("GET", "/keys", spec{id: "listKeys", summary: "list token-signing keys", tag: tKeys, area: roles.Keys},
			func(c *call, _ none) ([]admin.KeyView, error) {
				ks, err := a.Admin.SigningKeys(c.ctx)
				return ks, internal(err)
			}),
		op("POST", "/keys/rotate", spec{id: "rotateKey", summary: "create the next token-signing key (published beside the current one)", tag: tKeys, area: roles.Keys, change: true,
			query: algQ},
			func(c *call, _ none) ([]admin.KeyView, error) {
				purpose, err := keyPurpose(c)
				if err != nil {
					return nil, err
				}
				if _, err := a.Admin.RotateKeyOf(c.ctx, c.actor, purpose); err != nil {
					return nil, err
				}
				ks, err := a.Admin.SigningKeys(c.ctx)
				return ks, internal(err)
			}),
		op("POST", "/keys/promote", spec{id: "promoteKey", summary: "make the next key current (the current one retires)", tag: tKeys, area: roles.Keys, change: true,
			query: algQ},
			func(c *call, _ none) ([]admin.KeyView, error) {
				purpose, err := keyPurpose(c)
				if err != nil {
					return nil, err
				}
				if err := a.Admin.PromoteKeyOf(c.ctx, c.actor, purpose); err != nil {
					return nil, err
				}
				ks, err := a.Admin.SigningKeys(c.ctx)
				return ks, internal(err)
			}),
		op("POST", "/keys/retire", spec{id: "retireKeys", summary: "remove retired keys from the metadata", tag: tKeys, area: roles.Keys, change: true,
			query: algQ},
			func(c *call, _ none) (Retired, error) {
				purpose, err := keyPurpose(c)
				if err != nil {
					return Retired{}, err
				}
				n, err := a.Admin.RetireKeysOf(c.ctx, c.actor, purpose)
				return Retired{n}, err
			}),

		// ---- directory connectors ----
		op("GET", "/directory/connectors", spec{id: "listDirectoryConnectors", summary: "list the directory connectors with their latest syncs", tag: tDirectory, area: roles.Directory},
			func(c *call, _ none) ([]admin.ConnectorView, error) {
				cs, err := a.Admin.DirectoryConnectors(c.ctx)
				return cs, internal(err)
			}),
		op("GET", "/directory/scim-connectors", spec{id: "listSCIMConnectors", summary: "list the SCIM provisioning connectors (their tokens: issued, last used, revoked)", tag: tDirectory, area: roles.Directory},
			func(c *call, _ none) ([]admin.SCIMTokenView, error) {
				ts, err := a.Admin.ListSCIMTokens(c.ctx)
				return ts, internal(err)
			}),
		op("POST", "/directory/connectors/{id}/sync", spec{id: "syncDirectory", summary: "sync a directory connector now (dryRun=true: plan only; force=true: past the disable threshold)", tag: tDirectory, area: roles.Directory, change: true,
			query: []param{{"dryRun", "true: report what the sync would do, change nothing, record nothing", "boolean"}, {"force", "true: let a sync over the disable threshold through", "boolean"}}},
			func(c *call, _ none) (directory.SyncReport, error) {
				dry, err := boolQuery(c, "dryRun")
				if err != nil {
					return directory.SyncReport{}, err
				}
				force, err := boolQuery(c, "force")
				if err != nil {
					return directory.SyncReport{}, err
				}
				rep, err := a.Admin.SyncDirectory(c.ctx, c.actor, c.path("id"), dry, force)
				if errors.Is(err, directory.ErrThreshold) {
					return rep, &Problem{Status: http.StatusConflict, Code: "threshold", Detail: err.Error()}
				}
				return rep, err
			}),

		// ---- tokens ----
		op("GET", "/tokens", spec{id: "listTokens", summary: "list API tokens", tag: tTokens, area: roles.Tokens},
			func(c *call, _ none) ([]admin.TokenView, error) {
				ts, err := a.Admin.ListTokens(c.ctx)
				return ts, internal(err)
			}),
		op("POST", "/tokens", spec{id: "createToken", summary: "create an API token (shown once)", tag: tTokens, area: roles.Tokens, change: true,
			status: http.StatusCreated, inExample: NewToken{Owner: "admin@example.com", Role: "auditor", Name: "nightly sign-in export", LifetimeDays: 30}},
			func(c *call, in NewToken) (admin.CreatedToken, error) {
				if in.Owner == "" {
					in.Owner = c.user.UPN
				}
				if in.LifetimeDays < 0 {
					return admin.CreatedToken{}, invalid("lifetimeDays: not negative")
				}
				return a.Admin.CreateToken(c.ctx, c.actor, admin.NewToken{Owner: in.Owner, Role: roles.Role(in.Role), Name: in.Name, Lifetime: days(in.LifetimeDays)})
			}),
		op("POST", "/tokens/{id}/revoke", spec{id: "revokeToken", summary: "revoke an API token at once", tag: tTokens, area: roles.Tokens, change: true},
			func(c *call, _ none) (admin.TokenView, error) {
				return a.Admin.RevokeToken(c.ctx, c.actor, c.path("id"))
			}),
	}
}

func rawOrNil(b []byte) json.RawMessage {
	if len(b) == 0 {
		return nil
	}
	return json.RawMessage(b)
}

// boolQuery reads an optional true/false query parameter.
func boolQuery(c *call, name string) (bool, error) {
	switch v := c.query(name); v {
	case "", "false":
		return false, nil
	case "true":
		return true, nil
	default:
		return false, invalid(fmt.Sprintf("%s %q: true or false", name, v))
	}
}

// algQ selects the token key a key operation acts on.
var algQ = []param{{"alg", "RS256 (default: the RSA key of SAML, WS-Fed and RS256 OpenID Connect clients) or ES256 (the P-256 key of ES256 clients)", "string"}}

// keyPurpose is the token-key purpose of the call's alg parameter.
func keyPurpose(c *call) (string, error) {
	p, err := keys.PurposeOf(c.query("alg"))
	if err != nil {
		return "", invalid(err.Error())
	}
	return p, nil
}
