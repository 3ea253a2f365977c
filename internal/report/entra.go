package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Entra sign-in exports (M365.md §6): the portal's CSV download (interactive and
// non-interactive exports share the columns we read), the portal's JSON download (an array of
// Graph signIn objects), a Graph page ({"value": [...]}) and newline-delimited JSON (one
// signIn per line, as Log Analytics exports). Every reader streams: memory does not grow with
// the file.

// csvColumns lists, per field, the header names accepted (compared case-insensitively).
var csvColumns = map[string][]string{
	"date":   {"Date (UTC)", "Date", "CreatedDateTime", "TimeGenerated"},
	"upn":    {"Username", "UserPrincipalName", "User principal name"},
	"user":   {"User", "UserDisplayName"},
	"userid": {"User ID", "UserId"},
	"client": {"Client app", "ClientAppUsed"},
	"ip":     {"IP address", "IPAddress"},
	"ua":     {"User agent", "UserAgent"},
	"status": {"Status"},
	"code":   {"Sign-in error code", "ErrorCode"},
}

// interruptedCodes are error codes the portal shows as "Interrupted" (a further step such as
// MFA or "stay signed in" was needed) rather than "Failure". Inferred from the portal's
// behaviour; used to compare JSON exports (which only carry the code) with CSV exports.
var interruptedCodes = map[int]bool{50055: false, 50072: true, 50074: true, 50076: true,
	50079: true, 50097: true, 50125: true, 50140: true, 50158: true}

func statusFromCode(code int) string {
	switch {
	case code == 0:
		return "success"
	case interruptedCodes[code]:
		return "interrupted"
	}
	return "failure"
}

var timeLayouts = []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999",
	"2006-01-02 15:04:05Z07:00", "1/2/2006 3:04:05 PM", "1/2/2006, 3:04:05 PM", "1/2/2006 15:04:05"}

// parseTime reads the export's timestamps; values without a zone are UTC (the CSV column is
// "Date (UTC)").
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unrecognised date %q", s)
}

// bomSkipped returns r buffered (r itself when it already is) and past a UTF-8 byte-order
// mark (the portal's CSV starts with one).
func bomSkipped(r io.Reader) *bufio.Reader {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 256<<10)
	}
	if b, err := br.Peek(3); err == nil && bytes.Equal(b, []byte{0xEF, 0xBB, 0xBF}) {
		br.Discard(3)
	}
	return br
}

// AddEntraFile reads an Entra export from a file, detecting CSV or JSON from its content.
func (b *Builder) AddEntraFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		s := b.source(filepath.Base(path), "entra")
		s.Error = err.Error()
		return fmt.Errorf("entra export: %w", err)
	}
	defer f.Close()
	return b.AddEntra(f, filepath.Base(path))
}

// AddEntra reads an Entra export, detecting CSV or JSON from the first byte.
func (b *Builder) AddEntra(r io.Reader, name string) error {
	br := bomSkipped(r)
	for {
		c, err := br.Peek(1)
		if err != nil || !isSpace(c[0]) {
			if err == nil && (c[0] == '[' || c[0] == '{') {
				return b.AddEntraJSON(br, name)
			}
			return b.AddEntraCSV(br, name)
		}
		br.Discard(1)
	}
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// AddEntraCSV reads the portal's CSV export. Malformed rows are counted and listed with their
// line; the returned error means the file could not be read at all (no usable header, I/O).
func (b *Builder) AddEntraCSV(r io.Reader, name string) error {
	s := b.source(name, "entra-csv")
	br := bomSkipped(r)
	cr := newCSVRows(br)
	cr.all = true
	header, _, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("empty file")
		}
		s.Error = "header: " + err.Error()
		return fmt.Errorf("entra csv %s: header: %w", name, err)
	}
	col := map[string]int{}
	lower := map[string]int{}
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
	var missing []string
	if col["date"] < 0 {
		missing = append(missing, `"Date (UTC)"`)
	}
	if col["client"] < 0 {
		missing = append(missing, `"Client app"`)
	}
	if col["upn"] < 0 && col["user"] < 0 && col["userid"] < 0 {
		missing = append(missing, `"Username"`)
	}
	if len(missing) > 0 {
		s.Error = "missing columns " + strings.Join(missing, ", ")
		return fmt.Errorf("entra csv %s: not a sign-in export: missing columns %s", name, strings.Join(missing, ", "))
	}
	nCols := len(header)
	// Column numbers, looked up once: -1 when the export lacks the column.
	cDate, cUPN, cUser, cUserID, cClient := col["date"], col["upn"], col["user"], col["userid"], col["client"]
	cIP, cUA, cStatus, cCode := col["ip"], col["ua"], col["status"], col["code"]
	cr.all, cr.keep = false, make([]bool, nCols)
	for _, c := range []int{cDate, cUPN, cUser, cUserID, cClient, cIP, cUA, cStatus, cCode} {
		if c >= 0 {
			cr.keep[c] = true
		}
	}
	get := func(rec []string, i int) string {
		if i >= 0 && i < len(rec) {
			return rec[i]
		}
		return ""
	}
	// A goroutine reads the rows while this one normalises and aggregates them, in batches and
	// in order: the report is the same as if done one row after the other.
	batches, free, done := make(chan *entraBatch, 4), make(chan *entraBatch, 5), make(chan struct{})
	defer close(done) // stops the reader should aggregating end early (a panic)
	for range cap(free) {
		free <- &entraBatch{rows: make([]entraRow, 0, entraBatchRows)}
	}
	go func() {
		defer close(batches)
		view := func(views [][]byte, i int) []byte {
			if i >= 0 && i < len(views) {
				return views[i]
			}
			return nil
		}
		batch := <-free
		for {
			views, rec, line, err := cr.ReadViews()
			if err == io.EOF {
				break
			}
			var pe *csv.ParseError
			switch {
			case errors.As(err, &pe):
				batch.rows = append(batch.rows, entraRow{line: pe.StartLine, reason: pe.Err.Error()})
			case err != nil:
				batch.rows = append(batch.rows, entraRow{err: err})
			case views != nil && len(views) != nCols || views == nil && len(rec) != nCols:
				batch.rows = append(batch.rows, entraRow{line: line, reason: fmt.Sprintf("%d fields, header has %d", max(len(views), len(rec)), nCols)})
			case views != nil: // split by csvRows: parsed from the line itself
				user := view(views, cUPN)
				if len(user) == 0 {
					user = view(views, cUser)
				}
				if len(user) == 0 {
					user = view(views, cUserID)
				}
				batch.rows = append(batch.rows, batch.parse(line, view(views, cDate), user, view(views, cClient), view(views, cIP),
					view(views, cUA), statusOfViews(view(views, cStatus), view(views, cCode))))
			default:
				status := normStatus(get(rec, cStatus))
				if status == "" {
					if c, err := strconv.Atoi(strings.TrimSpace(get(rec, cCode))); err == nil {
						status = statusFromCode(c)
					}
				}
				user := get(rec, cUPN)
				if user == "" {
					user = get(rec, cUser)
				}
				if user == "" {
					user = get(rec, cUserID)
				}
				batch.rows = append(batch.rows, normEntra(line, get(rec, cDate), user, get(rec, cClient), get(rec, cIP), get(rec, cUA), status))
			}
			if err != nil && pe == nil {
				break // the rest cannot be read
			}
			if len(batch.rows) == cap(batch.rows) || len(batch.buf) >= entraBatchBytes {
				select {
				case batches <- batch:
				case <-done:
					return
				}
				select {
				case batch = <-free:
					batch.rows, batch.buf = batch.rows[:0], batch.buf[:0]
				case <-done:
					return
				}
			}
		}
		select {
		case batches <- batch:
		case <-done:
		}
	}()
	var readErr error
	for batch := range batches {
		for i := range batch.rows {
			r := &batch.rows[i]
			if r.err != nil {
				readErr = r.err
				continue
			}
			s.Rows++
			if r.pending {
				b.addEntraViews(s, r, batch.field(r.userAt), batch.field(r.uaAt))
				continue
			}
			if r.reason != "" {
				b.addMalformed(s, Malformed{Line: r.line, Reason: r.reason})
				continue
			}
			b.useEntra(s, r)
		}
		free <- batch
	}
	if readErr != nil {
		s.Error = readErr.Error()
		return fmt.Errorf("entra csv %s: %w", name, readErr)
	}
	return nil
}

// entraBatch is rows AddEntraCSV hands over at a time, with the user and user agent bytes of
// those split by csvRows (buf, reused: the rows hold no string of it).
type entraBatch struct {
	rows []entraRow
	buf  []byte
}

// parse normalises a row csvRows split, from the line itself: the portal's own forms (its
// date, IPv4 addresses, the documented client apps) are parsed without making strings of
// them, and the user and user agent are copied into the batch (addEntraViews reads them).
// Anything else takes normEntra's way, so the row is the same (FuzzEntraCSV).
func (eb *entraBatch) parse(line int, date, user, client, ip, ua []byte, status string) entraRow {
	t, err := parseTimeBytes(date)
	if err != nil {
		return entraRow{line: line, reason: err.Error()}
	}
	user = bytes.TrimSpace(user)
	if len(user) == 0 {
		return entraRow{line: line, reason: "no user"}
	}
	var addr netip.Addr
	if ip = bytes.TrimSpace(ip); len(ip) > 0 {
		var ok bool
		if addr, ok = parseIPv4(ip); !ok {
			if addr, err = netip.ParseAddr(string(ip)); err != nil {
				return entraRow{line: line, reason: fmt.Sprintf("bad IP address %q", ip)}
			}
			addr = addr.Unmap()
		}
	}
	c, known := entraExact[string(client)]
	if !known {
		c, known = ClassifyEntra(string(client))
	}
	r := entraRow{line: line, pending: true, t: t, client: c, known: known, ip: addr, status: status}
	r.userAt, r.uaAt = eb.keep(user), eb.keep(ua)
	return r
}

// keep copies f into the batch's buffer and returns where it is.
func (eb *entraBatch) keep(f []byte) [2]int32 {
	start := int32(len(eb.buf))
	eb.buf = append(eb.buf, f...)
	return [2]int32{start, int32(len(eb.buf))}
}

func (eb *entraBatch) field(at [2]int32) []byte { return eb.buf[at[0]:at[1]:at[1]] }

// AddEntraCSV hands over entraBatchRows rows at a time, or fewer when their fields reach
// entraBatchBytes (rows of long fields: the batch's memory stays bounded).
const (
	entraBatchRows  = 512
	entraBatchBytes = 4 << 20
)

// entraRow is one normalised export row: usable, or why not (reason); or the error that ends
// the file (err, not a row).
type entraRow struct {
	line int
	// pending: read by entraBatch.parse, its user and user agent in the batch at userAt and
	// uaAt (user and ua unset)
	pending      bool
	userAt, uaAt [2]int32
	reason       string
	err          error
	t            time.Time
	user         string
	client       ClientApp
	known        bool // client is a documented client-app value
	ip           netip.Addr
	ua           string
	status       string
}

// normStatus is strings.ToLower(strings.TrimSpace(v)) without allocating for the portal's
// values.
func normStatus(v string) string {
	switch v {
	case "Success":
		return "success"
	case "Failure":
		return "failure"
	case "Interrupted":
		return "interrupted"
	}
	return lowerASCII(strings.TrimSpace(v))
}

// addEntra adds one export row; it returns why the row is unusable, or "".
func (b *Builder) addEntra(s *SourceSummary, date, user, client, ip, ua, status string) string {
	r := normEntra(0, date, user, client, ip, ua, status)
	if r.reason == "" {
		b.useEntra(s, &r)
	}
	return r.reason
}

// normEntra normalises one export row (it touches no builder state).
func normEntra(line int, date, user, client, ip, ua, status string) entraRow {
	t, err := parseTime(date)
	if err != nil {
		return entraRow{line: line, reason: err.Error()}
	}
	user = strings.TrimSpace(user)
	if user == "" {
		return entraRow{line: line, reason: "no user"}
	}
	var addr netip.Addr
	if ip = strings.TrimSpace(ip); ip != "" {
		if addr, err = netip.ParseAddr(ip); err != nil {
			return entraRow{line: line, reason: fmt.Sprintf("bad IP address %q", ip)}
		}
		addr = addr.Unmap()
	}
	c, known := ClassifyEntra(client)
	return entraRow{line: line, t: t, user: user, client: c, known: known, ip: addr, ua: ua, status: status}
}

// addEntraViews aggregates a row entraBatch.parse read, as useEntra does; a row of a known
// user, client and user agent costs no string at all.
func (b *Builder) addEntraViews(s *SourceSummary, er *entraRow, user, ua []byte) {
	b.noteEntra(er.t, er.client, er.known)
	if !b.inWindow(s, er.t) {
		return
	}
	r := Record{Source: "entra", Time: er.t, Client: er.client, IP: er.ip, Status: er.status}
	p := b.knownPair(user, er.client.Name)
	if p == nil {
		r.User = string(user)
		p = b.pair(&r)
	}
	b.count(p, &r)
	p.addAgentBytes(ua)
}

// statusOfViews is the row's status as AddEntraCSV reads it (the Status column, or else the
// error code), without a string for the portal's values.
func statusOfViews(status, code []byte) string {
	st := ""
	switch {
	case len(status) == 0:
	case string(status) == "Success" || string(status) == "success":
		st = "success"
	case string(status) == "Failure" || string(status) == "failure":
		st = "failure"
	case string(status) == "Interrupted" || string(status) == "interrupted":
		st = "interrupted"
	default:
		st = normStatus(string(status))
	}
	if st != "" {
		return st
	}
	code = bytes.TrimSpace(code)
	n, ok := 0, len(code) > 0 && len(code) <= 9
	for _, c := range code {
		if c < '0' || c > '9' {
			ok = false
			break
		}
		n = n*10 + int(c-'0')
	}
	if !ok {
		var err error
		if n, err = strconv.Atoi(string(code)); err != nil {
			return ""
		}
	}
	return statusFromCode(n)
}

// parseTimeBytes is parseTime for the portal's own form, 2006-01-02T15:04:05Z, without a
// string; any other form (or an invalid date) goes to parseTime.
func parseTimeBytes(b []byte) (time.Time, error) {
	if len(b) == 20 && b[4] == '-' && b[7] == '-' && b[10] == 'T' && b[13] == ':' && b[16] == ':' && b[19] == 'Z' {
		num := func(b []byte) int {
			n := 0
			for _, c := range b {
				if c < '0' || c > '9' {
					return -1
				}
				n = n*10 + int(c-'0')
			}
			return n
		}
		y, mo, d, h, mi, sec := num(b[0:4]), num(b[5:7]), num(b[8:10]), num(b[11:13]), num(b[14:16]), num(b[17:19])
		if y >= 0 && mo >= 1 && mo <= 12 && d >= 1 && d <= daysIn(mo, y) && h >= 0 && h < 24 && mi >= 0 && mi < 60 && sec >= 0 && sec < 60 {
			return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC), nil
		}
	}
	return parseTime(string(b))
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// parseIPv4 parses a dotted-quad IPv4 address as netip.ParseAddr does (four decimal fields
// of at most 255, no leading zeros); ok is false for anything else, including errors.
func parseIPv4(b []byte) (a netip.Addr, ok bool) {
	var q [4]byte
	i := 0
	for f := 0; f < 4; f++ {
		if f > 0 {
			if i >= len(b) || b[i] != '.' {
				return a, false
			}
			i++
		}
		start, v := i, 0
		for i < len(b) && b[i] >= '0' && b[i] <= '9' && i-start < 3 {
			v = v*10 + int(b[i]-'0')
			i++
		}
		if n := i - start; n == 0 || v > 255 || n > 1 && b[start] == '0' {
			return a, false
		}
		q[f] = byte(v)
	}
	if i != len(b) {
		return a, false
	}
	return netip.AddrFrom4(q), true
}

// useEntra aggregates a usable export row.
func (b *Builder) useEntra(s *SourceSummary, r *entraRow) {
	b.noteEntra(r.t, r.client, r.known)
	b.add(s, Record{Source: "entra", Time: r.t, User: r.user, Client: r.client, IP: r.ip, UserAgent: r.ua, Status: r.status})
}

// noteEntra counts a usable export row's client when it is not a documented value, and its
// time in the exports' span.
func (b *Builder) noteEntra(t time.Time, c ClientApp, known bool) {
	if !known {
		if _, ok := b.unknownApps[c.Name]; ok {
			b.unknownApps[c.Name]++
		} else if len(b.unknownApps) < MaxAgentsPerPair*4 {
			b.unknownApps[strings.Clone(c.Name)] = 1
		}
	}
	if !b.exportSeen || t.Before(b.exportFirst) {
		b.exportFirst = t
	}
	if !b.exportSeen || t.After(b.exportLast) {
		b.exportLast = t
	}
	b.exportSeen = true
}

// graphSignIn holds the Graph signIn fields the report reads. encoding/json matches names
// case-insensitively, so Log Analytics' PascalCase (UserPrincipalName, IPAddress…) also fits.
type graphSignIn struct {
	CreatedDateTime   string          `json:"createdDateTime"`
	TimeGenerated     string          `json:"TimeGenerated"`
	UserPrincipalName string          `json:"userPrincipalName"`
	UserDisplayName   string          `json:"userDisplayName"`
	UserID            string          `json:"userId"`
	ClientAppUsed     string          `json:"clientAppUsed"`
	IPAddress         string          `json:"ipAddress"`
	UserAgent         string          `json:"userAgent"`
	Status            json.RawMessage `json:"status"`
}

func (g *graphSignIn) status() (string, error) {
	st := bytes.TrimSpace(g.Status)
	if len(st) == 0 || string(st) == "null" {
		return "", nil
	}
	if st[0] == '"' { // a string: "Success", or an embedded JSON object (Log Analytics)
		var v string
		if err := json.Unmarshal(st, &v); err != nil {
			return "", fmt.Errorf("status: %w", err)
		}
		if strings.HasPrefix(strings.TrimSpace(v), "{") {
			st = []byte(v)
		} else {
			return strings.ToLower(strings.TrimSpace(v)), nil
		}
	}
	var o struct {
		ErrorCode *int `json:"errorCode"`
	}
	if err := json.Unmarshal(st, &o); err != nil {
		return "", fmt.Errorf("status: %w", err)
	}
	if o.ErrorCode == nil {
		return "", nil
	}
	return statusFromCode(*o.ErrorCode), nil
}

func (b *Builder) addGraph(s *SourceSummary, g *graphSignIn) string {
	st, err := g.status()
	if err != nil {
		return err.Error()
	}
	date := g.CreatedDateTime
	if date == "" {
		date = g.TimeGenerated
	}
	user := g.UserPrincipalName
	if user == "" {
		user = g.UserDisplayName
	}
	if user == "" {
		user = g.UserID
	}
	return b.addEntra(s, date, user, g.ClientAppUsed, g.IPAddress, g.UserAgent, st)
}

// lineReader counts newlines in what the JSON decoder has read, so that a decoder offset can
// be turned into a line number. It keeps only the newline offsets the decoder has read ahead.
type lineReader struct {
	r       io.Reader
	off     int64   // bytes read so far
	pending []int64 // offsets of newlines not yet passed
	line    int     // 1-based line of the last offset asked for
}

func (l *lineReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			l.pending = append(l.pending, l.off+int64(i))
		}
	}
	l.off += int64(n)
	return n, err
}

// lineAt returns the line of offset off; offsets must not decrease between calls.
func (l *lineReader) lineAt(off int64) int {
	i := 0
	for i < len(l.pending) && l.pending[i] < off {
		i++
	}
	l.line += i
	l.pending = l.pending[i:]
	if len(l.pending) == 0 {
		l.pending = nil
	}
	return l.line
}

// AddEntraJSON reads a JSON export: an array of signIn objects, a Graph page with a "value"
// array, or one object per line. Elements that do not fit are malformed rows; a syntax error
// ends the file (the rest cannot be framed) and is reported with its line.
func (b *Builder) AddEntraJSON(r io.Reader, name string) error {
	s := b.source(name, "entra-json")
	br := bomSkipped(r)
	for {
		c, err := br.Peek(1)
		if err != nil {
			s.Error = "empty file"
			return fmt.Errorf("entra json %s: empty file", name)
		}
		if !isSpace(c[0]) {
			break
		}
		br.Discard(1)
	}
	if c, _ := br.Peek(1); c[0] == '{' && isNDJSON(br) {
		return b.readNDJSON(br, s)
	}
	lr := &lineReader{r: br, line: 1}
	dec := json.NewDecoder(lr)
	fail := func(err error) error {
		line := lr.lineAt(dec.InputOffset())
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line = lr.lineAt(se.Offset)
		}
		s.Error = fmt.Sprintf("line %d: %v; the rest of the file was skipped", line, err)
		s.Rows++ // the unreadable rest counts as one malformed row
		b.addMalformed(s, Malformed{Line: line, Reason: s.Error})
		return fmt.Errorf("entra json %s: line %d: %w", name, line, err)
	}
	tok, err := dec.Token()
	if err != nil {
		return fail(err)
	}
	if tok == json.Delim('{') { // Graph page: find "value"
		found := false
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return fail(err)
			}
			if k == "value" {
				found = true
				if t, err := dec.Token(); err != nil || t != json.Delim('[') {
					if err == nil {
						err = errors.New(`"value" is not an array`)
					}
					return fail(err)
				}
				if err := b.readJSONArray(dec, lr, s); err != nil {
					return fail(err)
				}
				continue
			}
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fail(err)
			}
		}
		if !found {
			return fail(errors.New(`no "value" array: not a sign-in export`))
		}
		return nil
	}
	if tok != json.Delim('[') {
		return fail(fmt.Errorf("expected an array of sign-ins, found %v", tok))
	}
	if err := b.readJSONArray(dec, lr, s); err != nil {
		return fail(err)
	}
	return nil
}

// readJSONArray decodes the elements of an array whose '[' has been read, and its ']'.
func (b *Builder) readJSONArray(dec *json.Decoder, lr *lineReader, s *SourceSummary) error {
	idx := 0
	for dec.More() {
		idx++
		start := dec.InputOffset()
		if rest, err := io.ReadAll(io.LimitReader(dec.Buffered(), 64)); err == nil {
			start += int64(len(rest) - len(bytes.TrimLeft(rest, " \t\r\n,")))
		}
		line := lr.lineAt(start)
		s.Rows++
		var g graphSignIn
		if err := dec.Decode(&g); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				b.addMalformed(s, Malformed{Line: line, Record: idx, Reason: err.Error()})
				continue
			}
			s.Rows--
			return err
		}
		if reason := b.addGraph(s, &g); reason != "" {
			b.addMalformed(s, Malformed{Line: line, Record: idx, Reason: reason})
		}
	}
	_, err := dec.Token() // ']'
	return err
}

// isNDJSON reports whether the input is one JSON object per line: the first line is a
// complete object on its own and not a Graph page (an object holding a "value" array).
func isNDJSON(br *bufio.Reader) bool {
	buf, _ := br.Peek(br.Size())
	nl := bytes.IndexByte(buf, '\n')
	if nl < 0 {
		return false
	}
	first := bytes.TrimSpace(buf[:nl])
	if len(first) == 0 || first[0] != '{' || !json.Valid(first) {
		return false
	}
	if bytes.Contains(first, []byte(`"value"`)) {
		var page map[string]json.RawMessage
		if json.Unmarshal(first, &page) == nil {
			if v := bytes.TrimSpace(page["value"]); len(v) > 0 && v[0] == '[' {
				return false
			}
		}
	}
	return true
}

func (b *Builder) readNDJSON(br *bufio.Reader, s *SourceSummary) error {
	line := 0
	for {
		buf, err := br.ReadSlice('\n')
		line++
		if err == bufio.ErrBufferFull {
			// Longer than the buffer: skip to the end of the line without keeping it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			s.Rows++
			b.addMalformed(s, Malformed{Line: line, Reason: fmt.Sprintf("line longer than %d bytes", br.Size())})
			if err == io.EOF {
				return nil
			}
			if err != nil && err != io.EOF {
				s.Error = err.Error()
				return fmt.Errorf("entra json %s: %w", s.Name, err)
			}
			continue
		}
		if t := bytes.TrimSpace(buf); len(t) > 0 {
			s.Rows++
			var g graphSignIn
			if uerr := json.Unmarshal(t, &g); uerr != nil {
				b.addMalformed(s, Malformed{Line: line, Reason: uerr.Error()})
			} else if reason := b.addGraph(s, &g); reason != "" {
				b.addMalformed(s, Malformed{Line: line, Reason: reason})
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			s.Error = err.Error()
			return fmt.Errorf("entra json %s: %w", s.Name, err)
		}
	}
}
