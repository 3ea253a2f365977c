package roles

import "testing"

func TestRoles(t *testing.T) {
	areas := []Area{Dashboard, Users, SignIns, Audit, Networks, Policy, Reports, Keys, Apps, Directory}
	cases := []struct {
		groups []string
		role   Role
		read   []Area
		change []Area
	}{
		{[]string{"staff", AdminGroup, HelpdeskGroup}, Admin, areas, areas},
		{[]string{HelpdeskGroup, AuditorGroup}, Helpdesk, []Area{Dashboard, Users, SignIns}, []Area{Users}},
		{[]string{AuditorGroup}, Auditor, areas, nil},
		{[]string{"staff", "it-admins"}, None, nil, nil},
	}
	for _, c := range cases {
		r := Of(c.groups)
		if r != c.role {
			t.Fatalf("Of(%v) = %q, want %q", c.groups, r, c.role)
		}
		for _, a := range areas {
			if got, want := r.CanRead(a), contains(c.read, a); got != want {
				t.Errorf("%s CanRead(%s) = %v", r, a, got)
			}
			if got, want := r.CanChange(a), contains(c.change, a); got != want {
				t.Errorf("%s CanChange(%s) = %v", r, a, got)
			}
		}
	}
}

func contains(as []Area, a Area) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
