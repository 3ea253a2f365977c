package report

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/csv"
	"errors"
	"io"
	"math"
	"math/bits"
)

// csvRows reads CSV records exactly as encoding/csv does (FieldsPerRecord -1, no comments,
// no lazy quotes): the same fields, the same errors, the same line numbers. It is faster on
// the lines that make up an export: a line that is a whole record by itself, with no quote
// inside an unquoted field and every quoted field closed on it, is split here, and only the
// fields the report reads (keep) are copied, into one string per record (Read), or not at all
// (ReadViews). Every other line (a quoted field running over several lines, a stray or
// unclosed quote, the last line without a newline, a read error) is handed to an encoding/csv
// reader, which stays the authority on everything irregular. FuzzCSVRows checks the two agree
// on any input, FuzzEntraCSV that the report is the one encoding/csv gives.
type csvRows struct {
	br   *bufio.Reader
	feed feeder
	cr   *csv.Reader // reads only what feed gives it
	keep []bool      // by column: copy this field (fields not kept read "" on the fast path)
	all  bool        // copy every field (keep ignored)

	fast    int         // lines split here so far
	line    []byte      // the line split last, without its newline
	fields  []fieldSpan // by column, for the fields to copy
	kept    []int       // their columns
	scratch []byte
	rec     []string
	view    [][]byte
	slowRec []string // the record encoding/csv read last
}

// feeder gives the csv.Reader the lines csvRows hands over: first the line already taken
// from br, then further lines from br, never more than up to the next newline per Read. As
// bufio (inside csv.Reader) calls Read only when its buffer has no complete line, the
// csv.Reader never holds bytes beyond the record it parses, and br stays the one position
// in the input.
type feeder struct {
	br      *bufio.Reader
	pending []byte // bytes of br's buffer to give first
	err     error  // returned once pending is given
	lines   int    // lines given (a last line without a newline counts)
}

func (f *feeder) Read(p []byte) (int, error) {
	if len(f.pending) == 0 && f.err == nil {
		line, err := f.br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			err = nil
		}
		f.pending, f.err = line, err
		if len(line) > 0 && (line[len(line)-1] == '\n' || err != nil) {
			f.lines++
		}
	}
	if len(f.pending) > 0 {
		n := copy(p, f.pending)
		f.pending = f.pending[n:]
		return n, nil
	}
	err := f.err
	f.err = nil
	return 0, err
}

func newCSVRows(br *bufio.Reader) *csvRows {
	x := &csvRows{br: br, feed: feeder{br: br}}
	x.cr = csv.NewReader(&x.feed)
	x.cr.FieldsPerRecord = -1
	x.cr.ReuseRecord = true
	return x
}

// Read returns the next record and the line it starts on. The fields are valid until the
// next Read. A *csv.ParseError has its StartLine in the whole input's numbering.
func (x *csvRows) Read() (rec []string, line int, err error) {
	n, line, err := x.next()
	if err != nil || n < 0 {
		return x.slowRec, line, err
	}
	return x.strings(n), line, nil
}

// ReadViews is Read without copying: a record split here comes as views of its kept fields
// (nil for the others), valid until the next call; one handed to encoding/csv comes as rec.
func (x *csvRows) ReadViews() (views [][]byte, rec []string, line int, err error) {
	n, line, err := x.next()
	if err != nil || n < 0 {
		return nil, x.slowRec, line, err
	}
	return x.views(n), nil, line, nil
}

// next reads the next record: split here (n fields, x.fields and x.kept filled) or, n < 0, by
// encoding/csv (x.slowRec).
func (x *csvRows) next() (n, line int, err error) {
	for {
		l, rerr := x.br.ReadSlice('\n')
		if rerr == nil && len(l) > 0 {
			line = x.fast + x.feed.lines + 1
			if n, ok := x.split(l); ok {
				x.fast++
				if n == 0 { // an empty line: skipped, as encoding/csv does
					continue
				}
				return n, line, nil
			}
		} else if len(l) == 0 && rerr == io.EOF {
			x.slowRec = nil
			return -1, 0, io.EOF
		}
		x.slowRec, line, err = x.slow(l, rerr)
		return -1, line, err
	}
}

// slow hands the line l (read with rerr) and whatever more the record needs to encoding/csv.
func (x *csvRows) slow(l []byte, rerr error) ([]string, int, error) {
	if rerr == bufio.ErrBufferFull {
		rerr = nil
	}
	x.feed.pending, x.feed.err = l, rerr
	if len(l) > 0 && (l[len(l)-1] == '\n' || rerr != nil) {
		x.feed.lines++
	}
	before := x.fast
	rec, err := x.cr.Read()
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			pe.StartLine += before
			pe.Line += before
		}
		return rec, 0, err
	}
	line, _ := x.cr.FieldPos(0)
	return rec, line + before, nil
}

// commaOrQuote returns the index of the first ',' or '"' in l at or after i, or len(l).
// Unquoted fields are short, so this tests eight bytes at a time in a register rather than
// pay for IndexByte's setup twice per field.
func commaOrQuote(l []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; i+8 <= len(l); i += 8 {
		x := binary.LittleEndian.Uint64(l[i:])
		c, q := x^(','*ones), x^('"'*ones)
		// The lowest byte flagged is the first that equals ',' or '"' (a byte may be
		// flagged wrongly only above a true one).
		if m := ((c-ones)&^c | (q-ones)&^q) & highs; m != 0 {
			return i + bits.TrailingZeros64(m)>>3
		}
	}
	for ; i < len(l); i++ {
		if l[i] == ',' || l[i] == '"' {
			return i
		}
	}
	return len(l)
}

// split parses l, a line ending in '\n', when it is a record on its own without anything
// encoding/csv would reject: it notes where the kept fields lie (x.fields, x.kept, x.line) and
// returns the number of fields (0 for an empty line, which encoding/csv skips); ok is false
// otherwise.
func (x *csvRows) split(l []byte) (n int, ok bool) {
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	if len(l) == 0 {
		return 0, true
	}
	if len(l) > math.MaxInt32 {
		return 0, false
	}
	// First the fields' places: where the content of each field to copy lies in l.
	x.kept = x.kept[:0]
	field, pos := 0, 0
	for {
		keep := x.all || field < len(x.keep) && x.keep[field]
		var f fieldSpan
		last := false
		if pos < len(l) && l[pos] == '"' { // a quoted field
			j := pos + 1
			f.start = int32(j)
			for {
				k := bytes.IndexByte(l[j:], '"')
				if k < 0 {
					return 0, false // continues on the next line, or is unterminated
				}
				k += j
				if k+1 < len(l) && l[k+1] == '"' { // "" is a quote
					f.esc = true
					j = k + 2
					continue
				}
				f.end = int32(k)
				switch {
				case k+1 == len(l):
					last = true
				case l[k+1] == ',':
					pos = k + 2
				default:
					return 0, false // a quote inside a quoted field
				}
				break
			}
		} else {
			end := commaOrQuote(l, pos)
			if end < len(l) && l[end] == '"' {
				return 0, false // a bare quote
			}
			f.start, f.end = int32(pos), int32(end)
			last = end == len(l)
			pos = end + 1
		}
		if keep {
			for len(x.fields) <= field {
				x.fields = append(x.fields, fieldSpan{})
			}
			x.fields[field] = f
			x.kept = append(x.kept, field)
		}
		field++
		if last {
			break
		}
	}
	x.line = l
	return field, true
}

// strings makes the split record's kept fields into one string.
func (x *csvRows) strings(n int) []string {
	l := x.line
	x.scratch = x.scratch[:0]
	for _, c := range x.kept {
		f := &x.fields[c]
		f.s0 = int32(len(x.scratch))
		x.scratch = appendContent(x.scratch, l[f.start:f.end], f.esc)
		f.s1 = int32(len(x.scratch))
	}
	if cap(x.rec) < n {
		x.rec = make([]string, n)
	}
	x.rec = x.rec[:n]
	clear(x.rec)
	s := string(x.scratch)
	for _, c := range x.kept {
		f := &x.fields[c]
		x.rec[c] = s[f.s0:f.s1]
	}
	return x.rec
}

// views are the split record's kept fields as they lie in the line (an escaped quoted field
// unescaped in scratch).
func (x *csvRows) views(n int) [][]byte {
	l := x.line
	x.scratch = x.scratch[:0]
	for _, c := range x.kept {
		if f := &x.fields[c]; f.esc {
			f.s0 = int32(len(x.scratch))
			x.scratch = appendContent(x.scratch, l[f.start:f.end], true)
			f.s1 = int32(len(x.scratch))
		}
	}
	if cap(x.view) < n {
		x.view = make([][]byte, n)
	}
	x.view = x.view[:n]
	clear(x.view)
	for _, c := range x.kept {
		f := &x.fields[c]
		v := l[f.start:f.end:f.end]
		if f.esc {
			v = x.scratch[f.s0:f.s1:f.s1]
		}
		if v == nil {
			v = l[:0:0] // an empty field: present, not nil
		}
		x.view[c] = v
	}
	return x.view
}

// appendContent appends a field's content: v as it is, or with each "" made " (esc).
func appendContent(dst, v []byte, esc bool) []byte {
	if !esc {
		return append(dst, v...)
	}
	for len(v) > 0 {
		i := bytes.IndexByte(v, '"')
		if i < 0 {
			return append(dst, v...)
		}
		dst = append(dst, v[:i+1]...) // the first quote of ""
		v = v[i+2:]
	}
	return dst
}

// fieldSpan is where a field's content lies in the line (esc: it has "" pairs to undo) and
// then in the record's string or scratch.
type fieldSpan struct {
	start, end int32 // in the line
	s0, s1     int32 // in the string (Read) or in scratch (ReadViews, when esc)
	esc        bool
}
