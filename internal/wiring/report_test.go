package wiring_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/report"
	"github.com/sekisho/sekisho/internal/signin"
	"github.com/sekisho/sekisho/internal/store"
	"github.com/sekisho/sekisho/internal/wiring"
)

// TestLegacyReportFromOwnLog drives Exchange-proxied WS-Trust sign-ins through the real gate
// and builds the impact report from the sign-in log they left.
func TestLegacyReportFromOwnLog(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	st := e.svc.Instance.Store
	if err := st.PutNetwork(ctx, store.Network{Name: "exchange-online", CIDRs: []string{"40.92.0.0/15"}, UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	e.svc.Policies.Invalidate()
	send := func(user, app, ua, fwd string) {
		h := map[string]string{"X-MS-Client-Application": app, "X-MS-Client-User-Agent": ua, "X-MS-Forwarded-Client-IP": fwd}
		if _, err := e.svc.Gate.Check(ctx, signin.Attempt{Protocol: "wstrust", Application: "microsoft365", Endpoint: signin.Active,
			HTTP: activeRequest("40.92.3.4:443", h), Username: user, Password: e.res.Password(user)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 3; i++ {
		send("bob@example.com", "Microsoft.Exchange.ActiveSync", "Apple-iPhone9C1/1905.258", "203.0.113.5") // office: allowed
	}
	send("bob@example.com", "Microsoft.Exchange.ActiveSync", "Apple-iPhone9C1/1905.258", "198.51.100.7") // outside: denied
	send("alice@example.com", "Microsoft.Exchange.Imap", "", "198.51.100.8")                             // outside: denied

	opts, err := wiring.ReportOptions(ctx, e.svc.Instance)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Build(ctx, opts, report.StoreSource(st), nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]report.Row{}
	for _, r := range rep.Rows {
		rows[r.User+"|"+string(r.Family)] = r
	}
	eas, ok := rows["bob@example.com|"+string(report.FamEAS)]
	if !ok {
		t.Fatalf("no EAS row for bob: %+v", rep.Rows)
	}
	if eas.Count != 4 || eas.Inside != 3 || eas.Outside != 1 || !eas.Legacy || eas.DistinctIPs != 2 ||
		eas.Decisions["allow"] != 3 || eas.Decisions["deny"] != 1 || len(eas.Devices) == 0 {
		t.Fatalf("EAS row %+v", eas)
	}
	imap, ok := rows["alice@example.com|"+string(report.FamIMAP)]
	if !ok || imap.Count != 1 || imap.Outside != 1 || imap.Decisions["deny"] != 1 {
		t.Fatalf("IMAP row %+v (rows %+v)", imap, rep.Rows)
	}
	if rep.Summary.LegacyUsers != 2 {
		t.Fatalf("summary %+v", rep.Summary)
	}
}
