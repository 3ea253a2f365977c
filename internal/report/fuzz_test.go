package report

import (
	"bytes"
	"testing"
)

// FuzzEntra feeds arbitrary bytes to the export readers: they must never panic, and every row
// they count is either used, outside the window or reported as malformed.
func FuzzEntra(f *testing.F) {
	rows, _ := genCorpus(40)
	f.Add(writeCorpusCSV(rows, interactiveHeader, true))
	f.Add(writeCorpusJSON(rows[:5], false))
	f.Add([]byte("Date (UTC),Username,Client app\n2026-01-01T00:00:00Z,\"a\nb\",IMAP4\n\"bad"))
	f.Add([]byte(`{"value":[{"createdDateTime":"2026-01-01T00:00:00Z","userPrincipalName":"a","status":"{\"errorCode\":1}"}]}`))
	f.Add([]byte("{\"createdDateTime\":\"x\"}\n{}\n[1,2]\n"))
	f.Add([]byte("\ufeff[{\"status\":[]},{\"ipAddress\":\"::ffff:1.2.3.4\"}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		b := NewBuilder(corpusOpts())
		_ = b.AddEntra(bytes.NewReader(data), "fuzz")
		rep := b.Finish()
		s := rep.Sources[0]
		if s.Used+s.OutsideWindow+s.Malformed != s.Rows {
			t.Fatalf("rows %d = used %d + outside %d + malformed %d does not hold", s.Rows, s.Used, s.OutsideWindow, s.Malformed)
		}
		var buf bytes.Buffer
		if err := rep.WriteHTML(&buf, "ja"); err != nil {
			t.Fatal(err)
		}
		if err := rep.WriteCSV(&buf); err != nil {
			t.Fatal(err)
		}
	})
}
