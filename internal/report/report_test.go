package report

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

const corpusSize = 4200

func corpusOpts() Options { return Options{Now: corpusNow, Networks: corpusNetworks} }

func checkCorpus(t *testing.T, rep *Report, w corpusWant, lines bool) {
	t.Helper()
	if got := rep.Sources[0].Rows; got != w.rows {
		t.Errorf("rows = %d, want %d", got, w.rows)
	}
	if got := rep.Sources[0].Used; got != w.valid {
		t.Errorf("used = %d, want %d", got, w.valid)
	}
	if rep.MalformedTotal != w.malformed || len(rep.Malformed) != w.malformed {
		t.Fatalf("malformed = %d (%d listed), want %d: %+v", rep.MalformedTotal, len(rep.Malformed), w.malformed, rep.Malformed)
	}
	if lines {
		for i, m := range rep.Malformed {
			if m.Line != w.malformedLines[i] {
				t.Errorf("malformed[%d] line = %d, want %d (%s)", i, m.Line, w.malformedLines[i], m.Reason)
			}
		}
	}
	byClient, byStatus := map[string]int{}, map[string]int{}
	for _, r := range rep.Rows {
		byClient[r.Client] += r.Count
		for k, v := range r.Statuses {
			byStatus[k] += v
		}
	}
	if !reflect.DeepEqual(byClient, w.byClient) {
		t.Errorf("by client = %v\nwant %v", byClient, w.byClient)
	}
	if !reflect.DeepEqual(byStatus, w.byStatus) {
		t.Errorf("by status = %v, want %v", byStatus, w.byStatus)
	}
	s := rep.Summary
	if s.Records != w.valid || s.LegacyRecords != w.legacyRecords || s.Users != len(w.users) || s.LegacyUsers != len(w.legacyUsers) {
		t.Errorf("summary records %d legacy %d users %d legacy users %d; want %d %d %d %d", s.Records, s.LegacyRecords,
			s.Users, s.LegacyUsers, w.valid, w.legacyRecords, len(w.users), len(w.legacyUsers))
	}
	if s.LegacyInside != w.legacyInside || s.LegacyOutside != w.legacyOutside || s.LegacyNoIP != w.legNo {
		t.Errorf("legacy inside/outside/none = %d/%d/%d, want %d/%d/%d", s.LegacyInside, s.LegacyOutside, s.LegacyNoIP,
			w.legacyInside, w.legacyOutside, w.legNo)
	}
	fam := map[Family]int{}
	for _, f := range s.ByFamily {
		fam[f.Family] = f.Records
	}
	if !reflect.DeepEqual(fam, w.byFamily) {
		t.Errorf("by family = %v, want %v", fam, w.byFamily)
	}
	days := 0
	for _, d := range s.Daily {
		days += d.Legacy + d.Modern
	}
	if days != w.valid {
		t.Errorf("daily totals = %d, want %d", days, w.valid)
	}
}

func TestCorpusCSVAndJSON(t *testing.T) {
	rows, want := genCorpus(corpusSize)
	// Hard numbers, so a generator change cannot silently move the goalposts.
	if want.rows != 4200 || want.malformed != 3 || len(want.byClient) != 16 || want.byClient["Browser"] != 263 || want.byClient["Other clients"] != 261 {
		t.Fatalf("corpus changed: %d rows, %d malformed, %d clients, Browser %d, Other %d", want.rows, want.malformed,
			len(want.byClient), want.byClient["Browser"], want.byClient["Other clients"])
	}
	inputs := []struct {
		name  string
		data  []byte
		add   func(b *Builder, data []byte) error
		lines bool
	}{
		{"interactive.csv (BOM)", writeCorpusCSV(rows, interactiveHeader, true), func(b *Builder, d []byte) error { return b.AddEntraCSV(bytes.NewReader(d), "i.csv") }, true},
		{"noninteractive.csv", writeCorpusCSV(rows, nonInteractiveHeader, false), func(b *Builder, d []byte) error { return b.AddEntraCSV(bytes.NewReader(d), "n.csv") }, true},
		{"sniffed.csv", writeCorpusCSV(rows, interactiveHeader, true), func(b *Builder, d []byte) error { return b.AddEntra(bytes.NewReader(d), "s.csv") }, true},
		{"export.json (BOM)", writeCorpusJSON(rows, true), func(b *Builder, d []byte) error { return b.AddEntraJSON(bytes.NewReader(d), "e.json") }, false},
		{"sniffed.json", writeCorpusJSON(rows, false), func(b *Builder, d []byte) error { return b.AddEntra(bytes.NewReader(d), "s.json") }, false},
	}
	var reports []*Report
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			rep, err := mustBuild(corpusOpts(), func(b *Builder) error { return in.add(b, in.data) })
			if err != nil {
				t.Fatal(err)
			}
			checkCorpus(t, rep, want, in.lines)
			reports = append(reports, rep)
		})
	}
	// CSV and JSON give the same report (rows and summary), whatever the export's shape.
	if len(reports) != len(inputs) {
		t.Fatal("a sub-test failed")
	}
	for i := 1; i < len(reports); i++ {
		if !reflect.DeepEqual(reports[0].Rows, reports[i].Rows) || !reflect.DeepEqual(reports[0].Summary, reports[i].Summary) {
			a, _ := json.Marshal(reports[0].Summary)
			b, _ := json.Marshal(reports[i].Summary)
			t.Errorf("%s differs from %s:\n%s\n%s", inputs[i].name, inputs[0].name, a, b)
		}
	}
}

func TestJSONMalformedLines(t *testing.T) {
	rows, want := genCorpus(400)
	data := writeCorpusJSON(rows, false)
	rep, _ := mustBuild(corpusOpts(), func(b *Builder) error { return b.AddEntraJSON(bytes.NewReader(data), "x.json") })
	lines := strings.Split(string(data), "\n")
	if len(rep.Malformed) != want.malformed {
		t.Fatalf("malformed %d, want %d", len(rep.Malformed), want.malformed)
	}
	for i, m := range rep.Malformed {
		// The element's line starts its object ("  {") and the record index is 1-based.
		if got := strings.TrimSpace(lines[m.Line-1]); got != "{" {
			t.Errorf("malformed[%d] line %d is %q, want the element's opening brace", i, m.Line, got)
		}
		if wantRec := want.malformedLines[i] - 1; m.Record != wantRec {
			t.Errorf("malformed[%d] record = %d, want %d", i, m.Record, wantRec)
		}
	}
}

func TestMalformedInputs(t *testing.T) {
	hdr := "Date (UTC),Username,Client app,IP address,Status\n"
	ok := "2026-02-01T10:00:00Z,a@x.example,IMAP4,203.0.113.5,Success\n"
	cases := []struct {
		name      string
		data      string
		json      bool
		used      int
		malformed []int // lines
		wantErr   bool
	}{
		{"field count", hdr + ok + "2026-02-01T10:00:00Z,b@x.example,POP3\n" + ok, false, 2, []int{3}, false},
		{"bare quote then recovery", hdr + ok + "2026-02-01T10:00:00Z,b\"x,POP3,,Success\n" + ok, false, 2, []int{3}, false},
		{"multi-line quoted field keeps line numbers", hdr + "2026-02-01T10:00:00Z,\"a\nb@x\",IMAP4,,Success\nbad,c@x,IMAP4,,Success\n", false, 1, []int{4}, false},
		{"no header", "", false, 0, nil, true},
		{"not a sign-in export", "a,b,c\n1,2,3\n", false, 0, nil, true},
		{"json type error", `[{"createdDateTime":"2026-02-01T10:00:00Z","userPrincipalName":"a@x","clientAppUsed":"POP3"},
{"createdDateTime":5,"userPrincipalName":"b@x","clientAppUsed":"POP3"},
{"createdDateTime":"2026-02-01T10:00:00Z","userPrincipalName":"c@x","clientAppUsed":"POP3"}]`, true, 2, []int{2}, false},
		{"json syntax error keeps rows before it", `[{"createdDateTime":"2026-02-01T10:00:00Z","userPrincipalName":"a@x","clientAppUsed":"POP3"},
{"createdDateTime":"2026-02-01T10:00:00Z" "userPrincipalName":"b@x"}]`, true, 1, []int{2}, true},
		{"graph page", `{"@odata.context":"x","value":[{"createdDateTime":"2026-02-01T10:00:00Z","userPrincipalName":"a@x","clientAppUsed":"IMAP4","status":{"errorCode":0}}],"@odata.nextLink":"y"}`, true, 1, nil, false},
		{"ndjson", "{\"TimeGenerated\":\"2026-02-01T10:00:00Z\",\"UserPrincipalName\":\"a@x\",\"ClientAppUsed\":\"IMAP4\",\"IPAddress\":\"203.0.113.1\",\"Status\":\"{\\\"errorCode\\\":50126}\"}\nnot json\n{\"TimeGenerated\":\"2026-02-01T11:00:00Z\",\"UserPrincipalName\":\"a@x\",\"ClientAppUsed\":\"IMAP4\"}\n", true, 2, []int{2}, false},
		{"json object without value", `{"foo": 1}`, true, 0, []int{1}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rep, err := mustBuild(corpusOpts(), func(b *Builder) error { return b.AddEntra(strings.NewReader(c.data), "f") })
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if rep.Sources[0].Used != c.used {
				t.Errorf("used = %d, want %d", rep.Sources[0].Used, c.used)
			}
			var lines []int
			for _, m := range rep.Malformed {
				lines = append(lines, m.Line)
			}
			if !reflect.DeepEqual(lines, c.malformed) {
				t.Errorf("malformed lines = %v, want %v (%+v)", lines, c.malformed, rep.Malformed)
			}
			if rep.Sources[0].Malformed != len(c.malformed) {
				t.Errorf("source malformed = %d", rep.Sources[0].Malformed)
			}
			if c.wantErr && rep.Sources[0].Error == "" {
				t.Error("source error not recorded")
			}
		})
	}
}

func TestClassifyEveryClientApp(t *testing.T) {
	now := corpusNow
	want := map[string]struct {
		fam    Family
		legacy bool
		status string
	}{
		"Browser":                          {FamBrowser, false, StatusModern},
		"Mobile Apps and Desktop clients":  {FamModernApp, false, StatusModern},
		"Authenticated SMTP":               {FamSMTP, true, StatusSMTPScheduled},
		"Autodiscover":                     {FamAutodiscover, true, StatusBlocked},
		"Exchange ActiveSync":              {FamEAS, true, StatusBlocked},
		"Exchange Online PowerShell":       {FamPowerShell, true, StatusBlocked},
		"Exchange Web Services":            {FamEWS, true, StatusBlockedEWSRetire},
		"IMAP4":                            {FamIMAP, true, StatusBlocked},
		"MAPI Over HTTP":                   {FamOutlook, true, StatusBlocked},
		"Offline Address Book":             {FamAutodiscover, true, StatusBlocked},
		"Outlook Anywhere (RPC over HTTP)": {FamOutlook, true, StatusBlocked},
		"POP3":                             {FamPOP, true, StatusBlocked},
		"Reporting Web Services":           {FamOtherLegacy, true, StatusLegacyOther},
		"Universal Outlook":                {FamOtherLegacy, true, StatusLegacyOther},
		"Outlook Service":                  {FamOtherLegacy, true, StatusLegacyOther},
		"Other clients":                    {FamOtherLegacy, true, StatusLegacyOther},
	}
	if len(want) != len(EntraClientApps) {
		t.Fatalf("table has %d values, test %d", len(EntraClientApps), len(want))
	}
	for name, w := range want {
		for _, v := range []string{name, strings.ToUpper(name), " " + name + " "} {
			c, ok := ClassifyEntra(v)
			if !ok || c.Name != name || c.Family != w.fam || c.Family.Legacy() != w.legacy || RetirementStatus(c.Family, now) != w.status {
				t.Errorf("%q → %+v ok=%v legacy=%v status=%s; want %+v", v, c, ok, c.Family.Legacy(), RetirementStatus(c.Family, now), w)
			}
		}
	}
	if c, ok := ClassifyEntra("Some Future Client"); ok || c.Family != FamOtherLegacy || c.Name != "Some Future Client" {
		t.Errorf("unknown value → %+v %v", c, ok)
	}
	// Sekisho's legacy applications land on the same clients as Entra's values.
	sek := map[string]string{"ActiveSync": "Exchange ActiveSync", "WebServices": "Exchange Web Services",
		"Imap": "IMAP4", "Pop": "POP3", "PopImap": "IMAP4", "SMTP": "Authenticated SMTP",
		"RPC": "Outlook Anywhere (RPC over HTTP)", "Mapi": "MAPI Over HTTP", "Powershell": "Exchange Online PowerShell",
		"Autodiscover": "Autodiscover", "OfflineAddressBook": "Offline Address Book",
		"Microsoft.Exchange.ActiveSync": "Exchange ActiveSync"}
	for app, name := range sek {
		if c := ClassifySekisho("legacy-proxied", app); c.Name != name {
			t.Errorf("sekisho %s → %q, want %q", app, c.Name, name)
		}
	}
	for ct, fam := range map[string]Family{"browser": FamBrowser, "rich-client": FamModernApp, "oidc": FamModernApp,
		"bridge-imap": FamBridge, "active-direct": FamModernApp} {
		if c := ClassifySekisho(ct, ""); c.Family != fam {
			t.Errorf("client type %s → %s, want %s", ct, c.Family, fam)
		}
	}
}

func TestRetirementTimeline(t *testing.T) {
	cases := []struct {
		f    Family
		at   time.Time
		want string
	}{
		{FamSMTP, day(2026, 12, 30), StatusSMTPScheduled},
		{FamSMTP, day(2026, 12, 31), StatusSMTPOffDefault},
		{FamEWS, day(2026, 9, 30), StatusBlockedEWSRetire},
		{FamEWS, day(2026, 10, 1), StatusEWSBlocked},
		{FamEWS, day(2027, 4, 1), StatusEWSShutdown},
		{FamEAS, day(2026, 1, 1), StatusBlocked},
		{FamBridge, day(2026, 1, 1), StatusModern},
	}
	for _, c := range cases {
		if got := RetirementStatus(c.f, c.at); got != c.want {
			t.Errorf("%s at %s = %s, want %s", c.f, c.at.Format("2006-01-02"), got, c.want)
		}
	}
	for _, m := range Milestones {
		if m.Source == "" || T("en", "ms."+m.Key) == "ms."+m.Key || T("ja", "ms."+m.Key) == T("en", "ms."+m.Key) {
			t.Errorf("milestone %s lacks a source or a translation", m.Key)
		}
	}
}

// seeded Sekisho sign-in log: legacy-proxied records of several clients with decisions.
func seedEvents() []store.SignInEvent {
	t0 := time.Date(2026, 2, 10, 9, 0, 0, 0, time.UTC)
	ev := func(i int, user, ct, app, ip, ua, dec string) store.SignInEvent {
		return store.SignInEvent{ID: "e" + string(rune('a'+i%26)), Time: t0.Add(time.Duration(i) * time.Hour),
			Username: user, ClientType: ct, LegacyApp: app, EffectiveIP: ip, ForwardedIP: ip, UserAgent: ua, Decision: dec}
	}
	var out []store.SignInEvent
	for i := 0; i < 10; i++ { // EAS: inside allowed, outside denied
		ip, dec := "203.0.113.10", "allow"
		if i%2 == 1 {
			ip, dec = "198.51.100.7", "deny"
		}
		out = append(out, ev(i, "Taro@contoso.example", "legacy-proxied", "ActiveSync", ip, "Apple-iPhone9C1/1602.92", dec))
	}
	for i := 0; i < 4; i++ { // a printer sending mail, inside only
		out = append(out, ev(20+i, "scanner@contoso.example", "legacy-proxied", "SMTP", "203.0.113.50", "RICOH MP C3004", "allow"))
	}
	for i := 0; i < 3; i++ { // EWS script, MFA required
		out = append(out, ev(30+i, "hanako@contoso.example", "legacy-proxied", "WebServices", "198.51.100.9", "", "mfa_required"))
	}
	out = append(out, ev(40, "taro@contoso.example", "browser", "", "203.0.113.10", "Mozilla/5.0", "allow"))
	out = append(out, ev(41, "", "browser", "", "203.0.113.10", "", "allow")) // malformed: no user
	return out
}

func TestSeededSekishoRecords(t *testing.T) {
	opts := corpusOpts()
	opts.Simulate = func(e store.SignInEvent) string {
		if e.ClientType != "rich-client" {
			t.Errorf("simulated client type %q", e.ClientType)
		}
		if strings.HasPrefix(e.EffectiveIP, "203.0.113.") {
			return "allow"
		}
		return "mfa_required"
	}
	b := NewBuilder(opts)
	for _, e := range seedEvents() {
		b.AddSignInEvent(e)
	}
	rep := b.Finish()
	if rep.MalformedTotal != 1 || rep.Sources[0].Rows != 19 || rep.Sources[0].Used != 18 {
		t.Fatalf("malformed %d rows %d used %d", rep.MalformedTotal, rep.Sources[0].Rows, rep.Sources[0].Used)
	}
	if rep.Summary.LegacyUsers != 3 || rep.Summary.Users != 3 || rep.Summary.LegacyRecords != 17 || rep.Summary.CannotMigratePairs != 1 {
		t.Errorf("summary %+v", rep.Summary)
	}
	rows := map[string]Row{}
	for _, r := range rep.Rows {
		rows[strings.ToLower(r.User)+"|"+r.Client] = r
	}
	eas := rows["taro@contoso.example|Exchange ActiveSync"]
	if eas.Count != 10 || eas.Inside != 5 || eas.Outside != 5 || eas.DistinctIPs != 2 || *eas.InsideShare != 0.5 ||
		eas.Decisions["deny"] != 5 || eas.CurrentDecision != "deny" || !reflect.DeepEqual(eas.Devices, []string{"Apple iPhone9C1"}) ||
		eas.Migration != "outlook_mobile" || eas.After != SignInOnly || eas.Before != EveryConnection {
		t.Errorf("eas row %+v", eas)
	}
	codes := func(r Row) []string {
		var c []string
		for _, k := range r.Risks {
			c = append(c, k.Code+":"+k.Severity)
		}
		return c
	}
	// Outside is denied today → a token obtained inside opens it; Outlook mobile syncs from
	// the cloud; the simulator says the new sign-in outside needs MFA: allowed today inside
	// stays allowed, denied outside stays blocked at sign-in.
	if got, want := codes(eas), []string{"token_outlives_network:high", "blocked_outside_opens:high", "cloud_sync:medium", "already_broken:medium"}; !reflect.DeepEqual(got, want) {
		t.Errorf("eas risks %v, want %v", got, want)
	}
	if eas.Simulation == nil || eas.Simulation.Addresses != 2 || eas.Simulation.SameDecisions != 2 {
		t.Errorf("eas simulation %+v", eas.Simulation)
	}
	smtp := rows["scanner@contoso.example|Authenticated SMTP"]
	if !smtp.CannotMigrate || smtp.Migration != "mail_bridge" || smtp.After != EveryConnection || smtp.Retirement != StatusSMTPScheduled {
		t.Errorf("smtp row %+v", smtp)
	}
	if got, want := codes(smtp), []string{"cannot_migrate:high", "app_only_bypass:medium"}; !reflect.DeepEqual(got, want) {
		t.Errorf("smtp risks %v, want %v", got, want)
	}
	ews := rows["hanako@contoso.example|Exchange Web Services"]
	if got, want := codes(ews), []string{"token_outlives_network:high", "blocked_outside_opens:high", "app_only_bypass:high", "ews_retiring:high", "mfa_now_possible:info", "already_broken:medium"}; !reflect.DeepEqual(got, want) {
		t.Errorf("ews risks %v, want %v", got, want)
	}
	// The simulator allows nothing new here (mfa stays mfa); make it allow everything.
	opts.Simulate = func(store.SignInEvent) string { return "allow" }
	b2 := NewBuilder(opts)
	for _, e := range seedEvents() {
		b2.AddSignInEvent(e)
	}
	for _, r := range b2.Finish().Rows {
		if r.Client == "Exchange Web Services" && (r.Simulation.NewlyAllowed != 1 || !strings.Contains(codes(r)[len(codes(r))-2], "newly_allowed")) {
			t.Errorf("ews with permissive policy: %+v %v", r.Simulation, codes(r))
		}
	}
	browser := rows["taro@contoso.example|Browser"]
	if browser.Legacy || len(browser.Risks) != 0 || browser.Migration != "none" {
		t.Errorf("browser row %+v", browser)
	}
}

func TestWindowAndCaps(t *testing.T) {
	opts := corpusOpts()
	opts.Since = time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	opts.Until = time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)
	b := NewBuilder(opts)
	for i := 0; i < 200; i++ {
		b.AddSignInEvent(store.SignInEvent{Time: opts.Since.Add(time.Duration(i) * 5 * time.Minute), Username: "u@x",
			ClientType: "legacy-proxied", LegacyApp: "Imap", EffectiveIP: "198.51.100." + itoa(i%250),
			UserAgent: "agent-" + itoa(i), Decision: "allow"})
	}
	rep := b.Finish()
	s := rep.Sources[0]
	if s.Used != 200 { // 200 events over 16h40m: all inside the day
		t.Fatalf("used %d", s.Used)
	}
	r := rep.Rows[0]
	if r.DistinctIPs != MaxIPsPerPair || !r.IPsCapped || len(r.UserAgents) != MaxAgentsPerPair || !r.AgentsCapped || r.Count != 200 || r.Outside != 200 {
		t.Errorf("caps: ips %d capped %v agents %d capped %v count %d", r.DistinctIPs, r.IPsCapped, len(r.UserAgents), r.AgentsCapped, r.Count)
	}
	b.AddSignInEvent(store.SignInEvent{Time: opts.Until, Username: "u@x", ClientType: "browser"})
	if rep := b.Finish(); rep.Sources[0].OutsideWindow != 1 {
		t.Errorf("outside window = %d", rep.Sources[0].OutsideWindow)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestParseSince(t *testing.T) {
	now := corpusNow
	for in, want := range map[string]time.Time{"": now.AddDate(0, 0, -30), "30d": now.AddDate(0, 0, -30), "2w": now.AddDate(0, 0, -14),
		"12h": now.Add(-12 * time.Hour), "2026-01-31": day(2026, 1, 31)} {
		got, err := ParseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"-3d", "xd", "soon", "0d"} {
		if _, err := ParseSince(bad, now); err == nil {
			t.Errorf("ParseSince(%q) accepted", bad)
		}
	}
}
