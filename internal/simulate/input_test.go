package simulate

import (
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func TestInputOf(t *testing.T) {
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	base := store.SignInEvent{Username: "alice@example.com", Application: "wiki", Protocol: "saml", ClientType: "browser",
		EffectiveIP: "::ffff:203.0.113.5", MFA: true, Time: at}
	cases := []struct {
		name               string
		serial, deviceName string
		present, valid     bool
	}{
		{"no certificate", "", "", false, false},
		{"accepted certificate", "1a2b", "alice-laptop", true, true},
		{"flagged certificate", "1a2b", "bob-laptop [other_user]", true, false},
	}
	for _, c := range cases {
		e := base
		e.DeviceSerial, e.DeviceName = c.serial, c.deviceName
		in := InputOf(e, []string{"staff"})
		if in.User != e.Username || in.Application != "wiki" || in.Protocol != "saml" || !in.MFA || !in.Time.Equal(at) ||
			len(in.Groups) != 1 || in.IP.String() != "203.0.113.5" {
			t.Errorf("%s: input %+v", c.name, in)
		}
		if in.Device.Present != c.present || in.Device.Valid != c.valid || in.Device.BoundToUser != c.valid {
			t.Errorf("%s: device %+v, want present=%v valid=%v", c.name, in.Device, c.present, c.valid)
		}
	}
}
