package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// WriteJSON writes the whole report as one JSON document (texts in the report's language).
func (r *Report) WriteJSON(w io.Writer) error {
	// The rows are streamed one at a time: encoding the whole report at once would hold a
	// second copy of every row in memory (the largest part of a million-row report's peak).
	head := *r
	head.Rows = nil
	b, err := json.MarshalIndent(&head, "", "  ")
	if err != nil {
		return fmt.Errorf("report json: %w", err)
	}
	const hole = `"rows": null`
	i := bytes.Index(b, []byte(hole))
	if i < 0 {
		return fmt.Errorf("report json: rows field not found")
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	bw.Write(b[:i])
	bw.WriteString(`"rows": [`)
	// Each row is written compactly by appendRowJSON and indented by appendIndent: together
	// what MarshalIndent(row, "    ", "  ") writes (the tests compare the bytes), at a
	// fraction of its cost.
	var rb, ind []byte
	for n := range r.Rows {
		var err error
		if rb, err = appendRowJSON(rb[:0], &r.Rows[n]); err != nil {
			return fmt.Errorf("report json: row %d: %w", n, err)
		}
		if n > 0 {
			bw.WriteByte(',')
		}
		bw.WriteString("\n    ")
		ind = appendIndent(ind[:0], rb, "    ", "  ")
		bw.Write(ind)
	}
	if len(r.Rows) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteByte(']')
	bw.Write(b[i+len(hole):])
	bw.WriteByte('\n')
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("report json: %w", err)
	}
	return nil
}

// appendIndent appends src, compact JSON as json.Marshal writes it (no white space outside
// strings), indented as json.Indent does: one element or member per line, prefix then indent
// per level before each, a space after every colon, empty arrays and objects kept as [] / {}.
func appendIndent(dst, src []byte, prefix, indent string) []byte {
	depth := 0
	newline := func() {
		dst = append(dst, '\n')
		dst = append(dst, prefix...)
		for range depth {
			dst = append(dst, indent...)
		}
	}
	for i := 0; i < len(src); i++ {
		switch c := src[i]; c {
		case '"':
			j := i + 1
			for j < len(src) && src[j] != '"' {
				if src[j] == '\\' {
					j++
				}
				j++
			}
			dst = append(dst, src[i:min(j+1, len(src))]...)
			i = j
		case '{', '[':
			dst = append(dst, c)
			if i+1 < len(src) && (src[i+1] == '}' || src[i+1] == ']') {
				dst = append(dst, src[i+1])
				i++
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			dst = append(dst, c)
		case ',':
			dst = append(dst, c)
			newline()
		case ':':
			dst = append(dst, ':', ' ')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// CSVHeader is the header of WriteCSV: one line per (user, client).
var CSVHeader = []string{"user", "client", "family", "legacy", "retirement_status", "count",
	"count_sekisho", "count_entra", "success", "failure", "interrupted", "first_seen", "last_seen",
	"distinct_ips", "ips_capped", "inside", "outside", "no_ip", "inside_share", "user_agents",
	"devices", "current_decision", "decisions", "migration", "after_migration", "cannot_migrate",
	"risk_codes", "risks"}

// WriteCSV writes one line per (user, client) pair; lists are joined with "; ".
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	for _, row := range r.Rows {
		share := ""
		if row.InsideShare != nil {
			share = strconv.FormatFloat(*row.InsideShare, 'f', 3, 64)
		}
		var uas, decs, codes, risks []string
		for _, ua := range row.UserAgents {
			uas = append(uas, ua.Name)
		}
		for _, d := range sortedCounts(row.Decisions) {
			decs = append(decs, d.Name+"="+strconv.Itoa(d.Count))
		}
		for _, k := range row.Risks {
			codes = append(codes, k.Code)
			risks = append(risks, k.Text)
		}
		rec := []string{row.User, row.Client, string(row.Family), strconv.FormatBool(row.Legacy),
			row.Retirement, strconv.Itoa(row.Count), strconv.Itoa(row.BySource["sekisho"]),
			strconv.Itoa(row.BySource["entra"]), strconv.Itoa(row.Statuses["success"]),
			strconv.Itoa(row.Statuses["failure"]), strconv.Itoa(row.Statuses["interrupted"]),
			row.FirstSeen.Format(time.RFC3339), row.LastSeen.Format(time.RFC3339),
			strconv.Itoa(row.DistinctIPs), strconv.FormatBool(row.IPsCapped), strconv.Itoa(row.Inside),
			strconv.Itoa(row.Outside), strconv.Itoa(row.NoIP), share, strings.Join(uas, "; "),
			strings.Join(row.Devices, "; "), row.CurrentDecision, strings.Join(decs, "; "),
			row.Migration, string(row.After), strconv.FormatBool(row.CannotMigrate),
			strings.Join(codes, "; "), strings.Join(risks, " | ")}
		for i, v := range rec {
			rec[i] = csvSafe(v)
		}
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("report csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("report csv: %w", err)
	}
	return nil
}

// csvSafe defuses spreadsheet formulas: user names and user agents come from the network.
func csvSafe(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}
