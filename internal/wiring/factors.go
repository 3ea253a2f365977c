package wiring

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/authn/factors"
	"github.com/sekisho/sekisho/internal/web"
)

// secondFactors implements web.SecondFactors with TOTP codes and emergency codes.
type secondFactors struct{ m *factors.Manager }

func (f secondFactors) Methods(ctx context.Context, userID string) ([]string, error) {
	st, err := f.m.Status(ctx, userID)
	if err != nil {
		return nil, err
	}
	var out []string
	if st.TOTP {
		out = append(out, "totp")
	}
	if st.EmergencyLeft > 0 {
		out = append(out, "emergency")
	}
	if st.WebAuthn > 0 {
		out = append(out, "webauthn")
	}
	return out, nil
}

func (f secondFactors) VerifyCode(ctx context.Context, userID, code string, now time.Time) (string, error) {
	code = strings.TrimSpace(code)
	if len(code) == 6 && strings.Trim(code, "0123456789") == "" {
		err := f.m.Validate(ctx, userID, code, now)
		if errors.Is(err, factors.ErrRateLimited) {
			return "", fmt.Errorf("%w: %v", web.ErrRateLimited, err)
		}
		return "totp", err
	}
	if err := f.m.UseEmergencyCode(ctx, userID, code, now); err != nil {
		if errors.Is(err, factors.ErrRateLimited) {
			return "", fmt.Errorf("%w: %v", web.ErrRateLimited, err)
		}
		return "", err
	}
	return "emergency", nil
}

// totpEnroller implements web.TOTPEnroller.
type totpEnroller struct{ m *factors.Manager }

func (e totpEnroller) Enroll(ctx context.Context, userID, upn string, now time.Time) (string, []byte, error) {
	en, err := e.m.Enroll(ctx, userID, upn, now)
	if err != nil {
		return "", nil, err
	}
	return en.Secret, en.PNG, nil
}

func (e totpEnroller) Confirm(ctx context.Context, userID, code string, now time.Time) error {
	return e.m.Confirm(ctx, userID, code, now)
}

func (e totpEnroller) Enrolled(ctx context.Context, userID string) (bool, error) {
	st, err := e.m.Status(ctx, userID)
	return st.TOTP, err
}
