package oidc

import (
	"slices"

	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/sekisho/sekisho/internal/store"
)

// Authentication context classes (acr): the REFEDS profiles, which say what an RP needs to
// know (one factor or several) without naming Sekisho's methods.
const (
	ACRSingleFactor = "https://refeds.org/profile/sfa"
	ACRMultiFactor  = "https://refeds.org/profile/mfa"
	// ACRMultiFactorAlias is accepted in acr_values for the multi-factor class too (the short
	// value some clients send).
	ACRMultiFactorAlias = "mfa"
)

// AMR maps the session's methods (as the sign-in pages record them) to RFC 8176 values:
// pwd for the password, otp for an authenticator-app or emergency code, hwk for a passkey
// (proof of possession of a key held by the device), and mfa when more than one factor was
// used. Unknown methods are left out.
func AMR(methods []string, mfa bool) []string {
	var out []string
	add := func(v string) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, m := range methods {
		switch m {
		case "pwd":
			add("pwd")
		case "totp", "emergency":
			add("otp")
		case "webauthn":
			add("hwk")
		}
	}
	if mfa {
		add("mfa")
	}
	return out
}

// ACR is the class of a sign-in with or without a second factor.
func ACR(mfa bool) string {
	if mfa {
		return ACRMultiFactor
	}
	return ACRSingleFactor
}

// setUserinfo fills info with the claims scopes release for u (see docs/oidc.md):
// sub always; profile: name, preferred_username; email: email, email_verified (the directory's
// address, which only administrators set); groups: the group names.
func setUserinfo(info *zoidc.UserInfo, u store.User, scopes []string) {
	info.Subject = u.ID
	for _, s := range scopes {
		switch s {
		case ScopeProfile:
			info.Name = u.DisplayName
			info.PreferredUsername = u.UPN
		case ScopeEmail:
			if u.Email != "" {
				info.Email = u.Email
				info.EmailVerified = true
			}
		case ScopeGroups:
			groups := u.Groups
			if groups == nil {
				groups = []string{}
			}
			info.AppendClaims("groups", groups)
		}
	}
}
