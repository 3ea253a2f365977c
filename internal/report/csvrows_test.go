package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type csvOutcome struct {
	Fields []string
	Line   int
	Err    string
}

// stdCSV is what encoding/csv, configured as the report used it, makes of data.
func stdCSV(data []byte) []csvOutcome {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1
	var out []csvOutcome
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, csvOutcome{Err: pe.Error()})
			continue
		}
		if err != nil {
			return append(out, csvOutcome{Err: "other: " + err.Error()})
		}
		line, _ := cr.FieldPos(0)
		out = append(out, csvOutcome{Fields: rec, Line: line})
	}
}

// ourCSV is what csvRows makes of data with a buffer of size bytes, copying the columns in
// keep (nil: all), through ReadViews when views is set (views made strings).
func ourCSV(data []byte, size int, keep []bool, views bool) []csvOutcome {
	x := newCSVRows(bufio.NewReaderSize(bytes.NewReader(data), size))
	x.keep, x.all = keep, keep == nil
	var out []csvOutcome
	for {
		var rec []string
		var line int
		var err error
		if !views {
			rec, line, err = x.Read()
		} else {
			var vs [][]byte
			vs, rec, line, err = x.ReadViews()
			if vs != nil {
				rec = make([]string, len(vs))
				for i, v := range vs {
					rec[i] = string(v)
				}
			}
		}
		if err == io.EOF {
			return out
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			out = append(out, csvOutcome{Err: pe.Error()})
			continue
		}
		if err != nil {
			return append(out, csvOutcome{Err: "other: " + err.Error()})
		}
		out = append(out, csvOutcome{Fields: append([]string(nil), rec...), Line: line})
	}
}

func compareCSV(t *testing.T, data []byte) {
	t.Helper()
	want := stdCSV(data)
	for _, size := range []int{16, 64, 256 << 10} {
		if got := ourCSV(data, size, nil, false); !reflect.DeepEqual(got, want) {
			t.Fatalf("buffer %d, input %q:\n got %+v\nwant %+v", size, data, got, want)
		}
		if got := ourCSV(data, size, nil, true); !reflect.DeepEqual(got, want) {
			t.Fatalf("views, buffer %d, input %q:\n got %+v\nwant %+v", size, data, got, want)
		}
	}
	// Only some columns copied: those are equal, the others empty on the lines split here.
	keep := []bool{true, false, true}
	for _, views := range []bool{false, true} {
		for i, got := range ourCSV(data, 64, keep, views) {
			w := want[i]
			if got.Err != w.Err || got.Line != w.Line || len(got.Fields) != len(w.Fields) {
				t.Fatalf("keep: record %d of %q: got %+v want %+v", i, data, got, w)
			}
			for c := range got.Fields {
				if c < len(keep) && keep[c] && got.Fields[c] != w.Fields[c] {
					t.Fatalf("keep: record %d field %d of %q: got %q want %q", i, c, data, got.Fields[c], w.Fields[c])
				}
			}
		}
	}
}

var csvCases = []string{
	"",
	"\n",
	"\n\n\r\n",
	"a,b,c\n",
	"a,b,c",
	"a,b,c\r",
	"a,b,c\r\n1,2,3\r\n",
	"a,,\n,\n,,,\n",
	"\"a\",\"b,c\",\"d\"\"e\"\n",
	" ,x,y,z\n\"\",x,y,z\n\" \"\"\",x,y,\"z\"\"\"\n\t,x,y,\"\"\n",
	"\"\"\n\"\",\"\"\n",
	"\"a\r\nb\",c\nd,e\n",
	"\"multi\nline\nfield\",x\nnext,row\n",
	"a,b\"c,d\nok,1\n",
	"\"a\"b,c\nok,2\n",
	"\"unterminated,x\nmore\n",
	"\"unterminated at eof",
	"a,\"b\"\r\n",
	"a,\"b\"\r\r\n",
	"a\rb,c\n",
	"\"a\rb\",c\n",
	" \"a\",b\n",
	"\"a\" ,b\n",
	"x,\"\"\"\"\n",
	"header,two\n\nrow,1\n\n\nrow,2",
	"\ufeffDate (UTC),User\n2026-01-01T00:00:00Z,a@x\n",
	"a,b\n\"c\nd\"\"\ne\",f\n\"g\"h\ni,j\n",
	"long field " + string(bytes.Repeat([]byte("x"), 300)) + ",y\nz,\"" + string(bytes.Repeat([]byte("q"), 100)) + "\"\n",
}

func TestCSVRowsMatchesEncodingCSV(t *testing.T) {
	for i, c := range csvCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { compareCSV(t, []byte(c)) })
	}
	rows, _ := genCorpus(300)
	compareCSV(t, writeCorpusCSV(rows, interactiveHeader, false))
	compareCSV(t, writeCorpusCSV(rows, nonInteractiveHeader, false))
}

// FuzzCSVRows: on any input, csvRows gives what encoding/csv gives: fields, lines, errors.
func FuzzCSVRows(f *testing.F) {
	for _, c := range csvCases {
		f.Add([]byte(c))
	}
	rows, _ := genCorpus(20)
	f.Add(writeCorpusCSV(rows, interactiveHeader, false))
	f.Fuzz(func(t *testing.T, data []byte) { compareCSV(t, data) })
}

// TestEntraCSVFallbackColumns: the columns read only when another is empty (User and User ID
// for Username, the error code for Status) are read when they are needed.
func TestEntraCSVFallbackColumns(t *testing.T) {
	data := "Date (UTC),User ID,User,Username,Client app,Status,Sign-in error code\n" +
		"2026-02-01T10:00:00Z,id-a,Display A,a@x.example,IMAP4,Success,50126\n" +
		"2026-02-01T10:00:00Z,id-b,Display B,,IMAP4,,50126\n" +
		"2026-02-01T10:00:00Z,id-c,,,IMAP4, ,0\n" +
		"2026-02-01T10:00:00Z,id-d,Display D,\" \",IMAP4,Failure,0\n" +
		"2026-02-01T10:00:00Z,\"id-\"\"e\",\"\",\"\",IMAP4,\"\",\"50074\"\n"
	rep, err := mustBuild(corpusOpts(), func(b *Builder) error { return b.AddEntraCSV(strings.NewReader(data), "f.csv") })
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int{}
	for _, r := range rep.Rows {
		got[r.User] = r.Statuses
	}
	want := map[string]map[string]int{"a@x.example": {"success": 1}, "Display B": {"failure": 1}, "id-c": {"success": 1},
		`id-"e`: {"interrupted": 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("users and statuses %v, want %v", got, want)
	}
	if len(rep.Malformed) != 1 || rep.Malformed[0].Line != 5 || rep.Malformed[0].Reason != "no user" {
		t.Errorf("malformed %+v, want line 5: no user", rep.Malformed)
	}
}

// refAddEntraCSV is AddEntraCSV as it was before csvRows: encoding/csv, one row at a time,
// every column copied. FuzzEntraCSV holds the two to the same report.
func (b *Builder) refAddEntraCSV(r io.Reader, name string) error {
	s := b.source(name, "entra-csv")
	cr := csv.NewReader(bomSkipped(r))
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty file")
		}
		s.Error = "header: " + err.Error()
		return err
	}
	col, lower := map[string]int{}, map[string]int{}
	for i, h := range header {
		lower[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	for field, names := range csvColumns {
		col[field] = -1
		for _, n := range names {
			if i, ok := lower[strings.ToLower(n)]; ok {
				col[field] = i
				break
			}
		}
	}
	if col["date"] < 0 || col["client"] < 0 || col["upn"] < 0 && col["user"] < 0 && col["userid"] < 0 {
		s.Error = "missing columns"
		return errors.New(s.Error)
	}
	nCols := len(header)
	get := func(rec []string, field string) string {
		if i := col[field]; i >= 0 && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				s.Rows++
				b.addMalformed(s, Malformed{Line: pe.StartLine, Reason: pe.Err.Error()})
				continue
			}
			s.Error = err.Error()
			return err
		}
		s.Rows++
		line, _ := cr.FieldPos(0)
		if len(rec) != nCols {
			b.addMalformed(s, Malformed{Line: line, Reason: fmt.Sprintf("%d fields, header has %d", len(rec), nCols)})
			continue
		}
		status := strings.ToLower(strings.TrimSpace(get(rec, "status")))
		if status == "" {
			if c, err := strconv.Atoi(strings.TrimSpace(get(rec, "code"))); err == nil {
				status = statusFromCode(c)
			}
		}
		user := get(rec, "upn")
		if user == "" {
			user = get(rec, "user")
		}
		if user == "" {
			user = get(rec, "userid")
		}
		if reason := b.addEntra(s, get(rec, "date"), user, get(rec, "client"), get(rec, "ip"), get(rec, "ua"), status); reason != "" {
			b.addMalformed(s, Malformed{Line: line, Reason: reason})
		}
	}
}

func checkEntraCSV(t *testing.T, data []byte) {
	t.Helper()
	var out [2]bytes.Buffer
	for i, add := range []func(*Builder) error{
		func(b *Builder) error { return b.AddEntraCSV(bytes.NewReader(data), "f.csv") },
		func(b *Builder) error { return b.refAddEntraCSV(bytes.NewReader(data), "f.csv") },
	} {
		b := NewBuilder(corpusOpts())
		if err := add(b); err != nil {
			return // a file that is not an export: the header checks are the same code
		}
		rep := b.Finish()
		rep.Sources[0].Error = ""
		if err := rep.WriteJSON(&out[i]); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out[0].Bytes(), out[1].Bytes()) {
		t.Fatalf("input %q:\nAddEntraCSV %s\nencoding/csv %s", data, out[0].Bytes(), out[1].Bytes())
	}
}

func TestEntraCSVSameAsEncodingCSV(t *testing.T) {
	rows, _ := genCorpus(1000)
	checkEntraCSV(t, writeCorpusCSV(rows, interactiveHeader, true))
	checkEntraCSV(t, writeCorpusCSV(rows, nonInteractiveHeader, false))
	for _, c := range csvCases {
		checkEntraCSV(t, []byte("Date (UTC),User ID,User,Username,Client app,Status,Sign-in error code\n"+c))
	}
	// The values read without a string, at and around the edges of their fast paths.
	dates := []string{"2026-02-01T10:00:00Z", "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2100-02-29T00:00:00Z",
		"2000-02-29T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-04-31T00:00:00Z", "2026-01-00T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T23:60:00Z", "2026-01-01T23:59:60Z", "0000-01-01T00:00:00Z", "2026-01-01T00:00:00.5Z",
		" 2026-01-01T00:00:00Z", "2026-1-01T00:00:00Z", "2026-01-01t00:00:00Z", "2026-01-01T00:00:00+09:00", "2026-0a-01T00:00:00Z",
		"1/2/2026 3:04:05 PM", ""}
	ips := []string{"203.0.113.9", "01.2.3.4", "1.2.3.04", "256.1.1.1", "1.2.3", "1.2.3.4.5", " 1.2.3.4 ", "::ffff:1.2.3.4",
		"1.2.3.4%x", "0.0.0.0", "255.255.255.255", "1..2.3", "1234.1.1.1", "2001:db8::1", "", " ", "x"}
	statuses := [][2]string{{"Success", "50126"}, {"SUCCESS", ""}, {" success", ""}, {"weird", "0"}, {"", "0050074"}, {"", "+0"},
		{"", "-1"}, {"", " 50126 "}, {"", "1e3"}, {"", "99999999999"}, {" ", "0"}, {"", ""}, {"interrupted", "0"}, {"Failure", "x"}}
	clients := []string{"IMAP4", "imap4", " IMAP4", "Future client", "", "Exchange ActiveSync"}
	var b strings.Builder
	b.WriteString("Date (UTC),User ID,User,Username,Client app,IP address,User agent,Status,Sign-in error code\n")
	for i := 0; i < 400; i++ {
		st := statuses[i%len(statuses)]
		upn := []string{"a@x", "", " ", "B@X"}[i%4]
		fmt.Fprintf(&b, "%s,id%d,%s,%s,%s,%s,ua%d,%s,%s\n", dates[i%len(dates)], i%3, []string{"", "Disp"}[i%2], upn,
			clients[i%len(clients)], ips[i%len(ips)], i%5, st[0], st[1])
	}
	checkEntraCSV(t, []byte(b.String()))
}

// FuzzEntraCSV: the report of any CSV input is the one encoding/csv, row by row, gives.
func FuzzEntraCSV(f *testing.F) {
	hdr := "Date (UTC),User ID,User,Username,Client app,IP address,User agent,Status,Sign-in error code\n"
	f.Add([]byte(hdr + "2026-02-01T10:00:00Z,id,U,,IMAP4,203.0.113.1,\"a, b\",\"\",50074\n\"x\ny\",1,2\n"))
	f.Add([]byte(hdr + "2026-02-01T10:00:00Z,id,,\" \",POP3,,ua, ,0\n2026-02-01T10:00:00Z,\"i\"\"d\",,,pop3,::ffff:1.2.3.4,,Failure,\n"))
	rows, _ := genCorpus(30)
	f.Add(writeCorpusCSV(rows, interactiveHeader, true))
	f.Fuzz(func(t *testing.T, data []byte) { checkEntraCSV(t, data) })
}
