package policy

import (
	"fmt"
	"strings"
)

// Action is what a rule (or the default) decides. The zero value is Deny, so a forgotten
// field fails closed.
type Action uint8

const (
	Deny Action = iota
	Allow
	RequireMFA
	RequireDevice
	RequireMFAAndDevice
)

var actionNames = [...]string{
	Deny:                "deny",
	Allow:               "allow",
	RequireMFA:          "require_mfa",
	RequireDevice:       "require_device",
	RequireMFAAndDevice: "require_mfa+require_device",
}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// MarshalText makes an Action a JSON string.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses an action name.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAction parses allow, deny, require_mfa, require_device and
// require_mfa+require_device (either order).
func ParseAction(s string) (Action, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", "")) {
	case "allow":
		return Allow, nil
	case "deny":
		return Deny, nil
	case "require_mfa":
		return RequireMFA, nil
	case "require_device":
		return RequireDevice, nil
	case "require_mfa+require_device", "require_device+require_mfa":
		return RequireMFAAndDevice, nil
	}
	return Deny, fmt.Errorf("unknown action %q (want allow, deny, require_mfa, require_device or require_mfa+require_device)", s)
}

// Decision is the word the sign-in record uses for an effective action: allow, deny,
// mfa_required, device_required (a device is asked for, with or without a second factor).
func (a Action) Decision() string {
	switch a {
	case Allow:
		return "allow"
	case RequireMFA:
		return "mfa_required"
	case RequireDevice, RequireMFAAndDevice:
		return "device_required"
	}
	return "deny"
}

// NeedsMFA reports whether the gate must still run an MFA step-up.
func (a Action) NeedsMFA() bool { return a == RequireMFA || a == RequireMFAAndDevice }

// NeedsDevice reports whether the gate must still obtain a valid device certificate.
func (a Action) NeedsDevice() bool { return a == RequireDevice || a == RequireMFAAndDevice }

// effective drops requirements the request already meets: require_mfa after MFA is allow.
func effective(a Action, mfa, device bool) Action {
	needMFA := a.NeedsMFA() && !mfa
	needDev := a.NeedsDevice() && !device
	switch {
	case a == Allow || a == Deny:
		return a
	case needMFA && needDev:
		return RequireMFAAndDevice
	case needMFA:
		return RequireMFA
	case needDev:
		return RequireDevice
	}
	return Allow
}
