package report

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func corpusReport(t testing.TB, lang string) *Report {
	t.Helper()
	rows, _ := genCorpus(1200)
	opts := corpusOpts()
	opts.Lang = lang
	b := NewBuilder(opts)
	for _, e := range seedEvents() {
		b.AddSignInEvent(e)
	}
	if err := b.AddEntraCSV(bytes.NewReader(writeCorpusCSV(rows, interactiveHeader, true)), "signins.csv"); err != nil {
		t.Fatal(err)
	}
	return b.Finish()
}

func TestHTMLLanguages(t *testing.T) {
	rep := corpusReport(t, "en")
	cases := map[string][]string{
		"en": {`<html lang="en">`, "Basic authentication retirement: impact report", "Migration checklist",
			"OAuth2ClientProfileEnabled", "new sign-in window", "Users and clients", "Sign-in only", "Never (bypasses the IdP)",
			"Rows that could not be read", "Basic auth blocked since 1 Oct 2022"},
		"ja": {`<html lang="ja">`, "基本認証の廃止: 影響レポート", "レガシー認証", "推奨される移行先", "移行チェックリスト",
			"OAuth2ClientProfileEnabled", "新しいサインイン画面", "サインイン時のみ", "社内ネットワーク外", "読み取れなかった行",
			"基本認証は2022年10月1日からブロック済み", "Outlook モバイル(OAuth)", "適用されない(IdP を経由しない)"},
	}
	for lang, wants := range cases {
		var buf bytes.Buffer
		if err := rep.WriteHTML(&buf, lang); err != nil {
			t.Fatal(err)
		}
		page := buf.String()
		for _, w := range wants {
			if !strings.Contains(page, w) {
				t.Errorf("%s page lacks %q", lang, w)
			}
		}
		if lang == "ja" && strings.Contains(page, "Migration checklist") {
			t.Error("ja page has English headings")
		}
		// Self-contained: no external fetches.
		for _, bad := range []string{`src="http`, `href="http`, "<link", "@import", "url("} {
			if strings.Contains(page, bad) {
				t.Errorf("%s page references an external asset: %q", lang, bad)
			}
		}
		for _, id := range []string{`id="chart-mix"`, `id="chart-daily"`, `id="chart-inout"`, `id="users"`} {
			if !strings.Contains(page, id) {
				t.Errorf("%s page lacks %s", lang, id)
			}
		}
		if n := strings.Count(page, "<svg class=\"chart\""); n != 3 {
			t.Errorf("%s page has %d charts", lang, n)
		}
		// Every text key resolved.
		for _, leak := range []string{"ui.", "risk.", "mig.", "status.", "fam.", "enf.", "sev.", "chk."} {
			if i := strings.Index(page, ">"+leak); i >= 0 {
				t.Errorf("%s page shows an untranslated key near %q", lang, page[i:min(len(page), i+40)])
			}
		}
	}
}

func TestHTMLEscapesInput(t *testing.T) {
	b := NewBuilder(corpusOpts())
	b.AddSignInEvent(store.SignInEvent{Time: corpusNow.Add(-time.Hour), Username: `<script>alert(1)</script>@x`,
		ClientType: "legacy-proxied", LegacyApp: "Imap", UserAgent: `"><img src=x onerror=alert(1)>`, Decision: "deny"})
	var buf bytes.Buffer
	if err := b.Finish().WriteHTML(&buf, "en"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "<script>alert") || strings.Contains(buf.String(), "<img src=x") {
		t.Error("user-controlled text reached the page unescaped")
	}
}

func TestCSVAndJSONOutput(t *testing.T) {
	rep := corpusReport(t, "ja")
	var c bytes.Buffer
	if err := rep.WriteCSV(&c); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&c).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(rep.Rows)+1 || len(recs[0]) != len(CSVHeader) {
		t.Fatalf("csv has %d lines of %d fields; want %d lines", len(recs), len(recs[0]), len(rep.Rows)+1)
	}
	total := 0
	for _, r := range recs[1:] {
		var n int
		if _, err := fmtSscan(r[5], &n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != rep.Summary.Records {
		t.Errorf("csv counts sum to %d, want %d", total, rep.Summary.Records)
	}
	var j bytes.Buffer
	if err := rep.WriteJSON(&j); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(j.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Summary.Records != rep.Summary.Records || len(back.Rows) != len(rep.Rows) || back.Lang != "ja" ||
		!strings.Contains(back.Rows[0].MigrationText, "移行") && !strings.Contains(back.Rows[0].MigrationText, "Outlook") {
		t.Errorf("json round trip: %+v", back.Summary)
	}
	if csvSafe("=cmd|' /C calc'!A0") != "'=cmd|' /C calc'!A0" {
		t.Error("formula not defused")
	}
}

func TestHandler(t *testing.T) {
	now := corpusNow
	events := func(ctx context.Context, since, until time.Time, fn func(store.SignInEvent) error) error {
		for _, e := range seedEvents() {
			if !since.IsZero() && e.Time.Before(since) {
				continue
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	}
	h := NewHandler(HandlerConfig{Events: events, Now: func() time.Time { return now },
		Options: func(context.Context) (Options, error) { return Options{Networks: corpusNetworks}, nil }})
	get := func(target string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", target, nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := get("/admin/reports/legacy-auth?since=60d", map[string]string{"Accept-Language": "ja,en;q=0.5"})
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "基本認証の廃止") || !strings.Contains(rec.Header().Get("Content-Security-Policy"), ScriptHash) {
		t.Fatalf("html: %d %s", rec.Code, rec.Header())
	}
	rec = get("/admin/reports/legacy-auth?since=60d&format=json&lang=en", nil)
	var rep Report
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rep.Summary.LegacyRecords != 17 {
		t.Fatalf("json: %v %+v", err, rep.Summary)
	}
	rec = get("/admin/reports/legacy-auth?since=1d&format=json", nil)
	json.Unmarshal(rec.Body.Bytes(), &rep)
	if rep.Summary.Records != 0 {
		t.Errorf("since=1d kept %d records", rep.Summary.Records)
	}
	if rec := get("/x?format=pdf", nil); rec.Code != 400 {
		t.Errorf("bad format: %d", rec.Code)
	}
	if rec := get("/x?since=soon", nil); rec.Code != 400 {
		t.Errorf("bad since: %d", rec.Code)
	}

	// POST with an uploaded Entra export, streamed.
	rows, want := genCorpus(500)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("entra", "signins.json")
	fw.Write(writeCorpusJSON(rows, false))
	mw.Close()
	req := httptest.NewRequest("POST", "/admin/reports/legacy-auth?since=60d&format=json", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	prec := httptest.NewRecorder()
	h.ServeHTTP(prec, req)
	if prec.Code != 200 {
		t.Fatalf("post: %d %s", prec.Code, prec.Body)
	}
	var prep Report
	json.Unmarshal(prec.Body.Bytes(), &prep)
	if len(prep.Sources) != 2 || prep.Sources[1].Rows != want.rows || prep.Sources[1].Malformed != want.malformed ||
		prep.Summary.Records != 18+want.valid {
		t.Errorf("post sources %+v records %d", prep.Sources, prep.Summary.Records)
	}
	req = httptest.NewRequest("POST", "/x", strings.NewReader("x"))
	prec = httptest.NewRecorder()
	h.ServeHTTP(prec, req)
	if prec.Code != 400 {
		t.Errorf("non-multipart post: %d", prec.Code)
	}
	if rec := get("/x", nil); rec.Code != 200 || rec.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", rec.Header())
	}
	_ = io.EOF
	_ = http.StatusOK
}

func TestJobRun(t *testing.T) {
	rows, want := genCorpus(300)
	dir := t.TempDir()
	in := dir + "/signins.csv"
	if err := writeFile(in, writeCorpusCSV(rows, interactiveHeader, true)); err != nil {
		t.Fatal(err)
	}
	out := dir + "/report.json"
	j := Job{Since: "90d", EntraFiles: []string{in, dir + "/missing.csv"}, Format: "json", Lang: "ja", Out: out}
	if err := j.Run(context.Background(), corpusOpts(), nil, io.Discard, nil); err != nil {
		t.Fatal(err)
	}
	var rep Report
	data, _ := readFile(out)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Records != want.valid || len(rep.Sources) != 2 || rep.Sources[1].Error == "" {
		t.Errorf("job report: %d records, sources %+v", rep.Summary.Records, rep.Sources)
	}
	if err := (Job{Format: "pdf"}).Run(context.Background(), corpusOpts(), nil, io.Discard, nil); err == nil {
		t.Error("bad format accepted")
	}
}
