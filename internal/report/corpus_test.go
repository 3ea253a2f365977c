package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"
)

// The test corpus: Entra sign-in exports written deterministically from the documented format
// (M365.md §6), in CSV and JSON, with the generator's own bookkeeping of what a correct report
// must count. Nothing here calls the code under test.

var corpusNow = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

var corpusNetworks = map[string][]netip.Prefix{
	"office-v4": {netip.MustParsePrefix("203.0.113.0/24")},
	"office-v6": {netip.MustParsePrefix("2001:db8:10::/48")},
}

type corpusRow struct {
	date, user, client, ip, ua string
	code                       int // 0 success, 50126 failure, 50074 interrupted
	bad                        string
}

type corpusWant struct {
	rows, valid, malformed             int
	byClient                           map[string]int
	byStatus                           map[string]int
	inside, outside, noIP              int
	users, legacyUsers                 map[string]bool
	legacyRecords                      int
	malformedLines                     []int // CSV lines (header is line 1)
	byFamily                           map[Family]int
	legacyInside, legacyOutside, legNo int
}

var corpusUAs = map[string][]string{
	"Exchange ActiveSync": {"Apple-iPhone9C1/1602.92", "Android-SAMSUNG-SM-G930F/101.60004"},
	"Authenticated SMTP":  {"RICOH MP C3004 SMTP", ""},
	"Browser":             {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"},
	"IMAP4":               {"Thunderbird/115.0", ""},
}

// genCorpus makes n rows cycling through every client-app value, 40 users, IPv4 and IPv6
// (inside and outside the named networks, some IPv4-mapped, some empty), three statuses, and
// three kinds of malformed rows at fixed positions.
func genCorpus(n int) ([]corpusRow, corpusWant) {
	base := time.Date(2026, 1, 20, 0, 0, 0, 0, time.UTC)
	w := corpusWant{byClient: map[string]int{}, byStatus: map[string]int{}, users: map[string]bool{},
		legacyUsers: map[string]bool{}, byFamily: map[Family]int{}}
	var rows []corpusRow
	for i := 0; i < n; i++ {
		ca := EntraClientApps[i%len(EntraClientApps)]
		r := corpusRow{
			date:   base.Add(time.Duration(i) * 10 * time.Minute).Format("2006-01-02T15:04:05Z"),
			user:   fmt.Sprintf("user%02d@contoso.example", (i*7)%40),
			client: ca.Name,
			code:   []int{50126, 50074, 0, 0}[i%4],
		}
		inside := i%5 < 2
		switch {
		case i%11 == 0:
			r.ip = ""
		case i%3 == 0 && inside:
			r.ip = fmt.Sprintf("2001:db8:10::%x", i%50+1)
		case i%3 == 0:
			r.ip = fmt.Sprintf("2001:db8:ff::%x", i%50+1)
		case i%13 == 0 && inside:
			r.ip = fmt.Sprintf("::ffff:203.0.113.%d", i%200+1)
		case inside:
			r.ip = fmt.Sprintf("203.0.113.%d", i%200+1)
		default:
			r.ip = fmt.Sprintf("198.51.100.%d", i%200+1)
		}
		if uas := corpusUAs[ca.Name]; uas != nil {
			r.ua = uas[i%len(uas)]
		} else {
			r.ua = "Microsoft Office/16.0"
		}
		switch i {
		case 101:
			r.date, r.bad = "yesterday", "date"
		case 202:
			r.user, r.bad = "", "user"
		case 303:
			r.ip, r.bad = "999.1.1.1", "ip"
		}
		rows = append(rows, r)
		w.rows++
		if r.bad != "" {
			w.malformed++
			w.malformedLines = append(w.malformedLines, i+2)
			continue
		}
		w.valid++
		w.byClient[ca.Name]++
		w.byFamily[ca.Family]++
		w.byStatus[map[int]string{0: "success", 50126: "failure", 50074: "interrupted"}[r.code]]++
		w.users[r.user] = true
		if ca.Family.Legacy() {
			w.legacyRecords++
			w.legacyUsers[r.user] = true
		}
		switch {
		case r.ip == "":
			w.noIP++
			if ca.Family.Legacy() {
				w.legNo++
			}
		case inside:
			w.inside++
			if ca.Family.Legacy() {
				w.legacyInside++
			}
		default:
			w.outside++
			if ca.Family.Legacy() {
				w.legacyOutside++
			}
		}
	}
	return rows, w
}

var statusText = map[int]string{0: "Success", 50126: "Failure", 50074: "Interrupted"}

// interactiveHeader is the portal's interactive export (abridged to a realistic subset, in the
// portal's order); nonInteractiveHeader has a different order and no Status column.
var interactiveHeader = []string{"Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User",
	"Username", "User type", "Incoming token type", "Application", "Application ID", "IP address",
	"Location", "Status", "Sign-in error code", "Failure reason", "Client app", "Token issuer type",
	"IP address (seen by resource)"}
var nonInteractiveHeader = []string{"Date (UTC)", "Request ID", "Username", "User", "User ID",
	"Application", "Client app", "IP address", "Sign-in error code", "User agent", "Token issuer type"}

func writeCorpusCSV(rows []corpusRow, header []string, bom bool) []byte {
	var buf bytes.Buffer
	if bom {
		buf.WriteString("\ufeff")
	}
	cw := csv.NewWriter(&buf)
	cw.Write(header)
	for i, r := range rows {
		vals := map[string]string{"Date (UTC)": r.date, "Request ID": fmt.Sprintf("req-%06d", i),
			"User agent": r.ua, "Correlation ID": fmt.Sprintf("corr-%06d", i), "User ID": fmt.Sprintf("id-%s", r.user),
			"User": strings.Split(r.user+"@", "@")[0], "Username": r.user, "User type": "Member",
			"Incoming token type": "None", "Application": "Office 365 Exchange Online",
			"Application ID": "00000002-0000-0ff1-ce00-000000000000", "IP address": r.ip,
			"Location": "Tokyo, Tokyo, JP", "Status": statusText[r.code], "Sign-in error code": fmt.Sprint(r.code),
			"Failure reason": "", "Client app": r.client, "Token issuer type": "AzureAD",
			"IP address (seen by resource)": r.ip}
		if r.user == "" {
			vals["User"], vals["User ID"] = "", ""
		}
		rec := make([]string, len(header))
		for j, h := range header {
			rec[j] = vals[h]
		}
		cw.Write(rec)
	}
	cw.Flush()
	return buf.Bytes()
}

// writeCorpusJSON writes the portal's JSON export: an array of Graph signIn objects, one field
// per line (pretty-printed), so malformed elements have meaningful line numbers.
func writeCorpusJSON(rows []corpusRow, bom bool) []byte {
	var buf bytes.Buffer
	if bom {
		buf.WriteString("\ufeff")
	}
	buf.WriteString("[\n")
	for i, r := range rows {
		o := map[string]any{"id": fmt.Sprintf("req-%06d", i), "createdDateTime": r.date,
			"userPrincipalName": r.user, "userDisplayName": strings.Split(r.user+"@", "@")[0],
			"appDisplayName": "Office 365 Exchange Online", "ipAddress": r.ip, "clientAppUsed": r.client,
			"userAgent": r.ua, "isInteractive": true,
			"status":       map[string]any{"errorCode": r.code, "failureReason": "", "additionalDetails": nil},
			"deviceDetail": map[string]any{"operatingSystem": "Windows10", "browser": ""}}
		if r.user == "" {
			o["userDisplayName"] = ""
		}
		b, _ := json.MarshalIndent(o, "  ", "  ")
		buf.WriteString("  ")
		buf.Write(b)
		if i < len(rows)-1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n")
	}
	buf.WriteString("]\n")
	return buf.Bytes()
}

func mustBuild(opts Options, add func(b *Builder) error) (*Report, error) {
	b := NewBuilder(opts)
	err := add(b)
	return b.Finish(), err
}

var _ = io.EOF
