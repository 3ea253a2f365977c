package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // policies name IANA zones; do not depend on the host's zoneinfo

	"github.com/goccy/go-yaml/ast"
)

// TimeWindow is a recurring local-time window in one IANA zone. It is judged on the wall
// clock of that zone, so DST moves the window with local time (08:00 stays 08:00).
type TimeWindow struct {
	Zone     string
	Weekdays uint8 // bit i = time.Weekday(i); 0 means every day
	From, To int   // minutes since local midnight, To may be 1440; From == To == 0: all day
	DateFrom int   // yyyymmdd inclusive, 0 = open
	DateTo   int   // yyyymmdd inclusive, 0 = open
	Line     int
	loc      *time.Location
}

// Contains reports whether t falls in the window. A window with From > To crosses midnight:
// "fri 22:00–06:00" covers Friday 22:00 to Saturday 06:00, i.e. the early part belongs to
// the previous day's weekday. Dates are the local calendar date of t. The zero time is
// outside every window.
func (w *TimeWindow) Contains(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	lt := t.In(w.loc)
	if !w.dateOK(lt) {
		return false
	}
	wd := lt.Weekday()
	if w.From == w.To { // whole day
		return w.dayOK(wd)
	}
	h, m, _ := lt.Clock()
	mins := h*60 + m
	if w.From < w.To {
		return mins >= w.From && mins < w.To && w.dayOK(wd)
	}
	if mins >= w.From {
		return w.dayOK(wd)
	}
	return mins < w.To && w.dayOK((wd+6)%7)
}

func (w *TimeWindow) dayOK(d time.Weekday) bool { return w.Weekdays == 0 || w.Weekdays&(1<<d) != 0 }

func (w *TimeWindow) dateOK(lt time.Time) bool {
	if w.DateFrom == 0 && w.DateTo == 0 {
		return true
	}
	y, m, d := lt.Date()
	v := y*10000 + int(m)*100 + d
	return (w.DateFrom == 0 || v >= w.DateFrom) && (w.DateTo == 0 || v <= w.DateTo)
}

// dateOnly reports whether t is outside only because of the date range (for the trace).
func (w *TimeWindow) dateOnly(t time.Time) bool {
	return !t.IsZero() && !w.dateOK(t.In(w.loc))
}

var dayNames = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
	"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday,
}

// parseWeekdays accepts "mon", "monday", ranges "mon..fri" or "mon-fri" (wrapping "fri..mon").
func parseWeekdays(vs []Value) (uint8, error) {
	var mask uint8
	for _, v := range vs {
		s := strings.ToLower(v.S)
		a, b, isRange := strings.Cut(s, "..")
		if !isRange {
			a, b, isRange = strings.Cut(s, "-")
		}
		from, ok1 := dayNames[strings.TrimSpace(a)]
		if !ok1 {
			return 0, fmt.Errorf("bad weekday %q", v.S)
		}
		to := from
		if isRange {
			var ok2 bool
			if to, ok2 = dayNames[strings.TrimSpace(b)]; !ok2 {
				return 0, fmt.Errorf("bad weekday range %q", v.S)
			}
		}
		for d := from; ; d = (d + 1) % 7 {
			mask |= 1 << d
			if d == to {
				break
			}
		}
	}
	return mask, nil
}

// parseClock parses "HH:MM" (24-hour); "24:00" is allowed as an end.
func parseClock(s string, end bool) (int, error) {
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(m) != 2 || len(h) < 1 || len(h) > 2 {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || mm < 0 || mm > 59 || hh > 24 || (hh == 24 && (mm != 0 || !end)) {
		return 0, fmt.Errorf("bad time %q (want HH:MM)", s)
	}
	return hh*60 + mm, nil
}

func parseDate(s string) (int, error) {
	t, err := time.Parse("2006-01-02", strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("bad date %q (want YYYY-MM-DD)", s)
	}
	return t.Year()*10000 + int(t.Month())*100 + t.Day(), nil
}

// timeWindows parses one window (a mapping) or a list of windows (ORed).
func (p *docParser) timeWindows(f field, what string) []TimeWindow {
	n := p.deref(f.value)
	if n == nil {
		return nil
	}
	var nodes []ast.Node
	if seq, ok := n.(*ast.SequenceNode); ok {
		nodes = seq.Values
	} else {
		nodes = []ast.Node{n}
	}
	if len(nodes) == 0 {
		p.errf(f.line, "%s: time: empty list", what)
	}
	var out []TimeWindow
	for _, wn := range nodes {
		w := TimeWindow{Line: lineOf(wn)}
		if w.Line == 0 {
			w.Line = f.line
		}
		haveFrom, haveTo := false, false
		for _, tf := range p.fields(wn, what+": time", "zone", "weekdays", "from", "to", "dates") {
			switch tf.key {
			case "zone":
				if s, ok := p.str(tf, what+": time"); ok {
					loc, err := time.LoadLocation(s)
					if err != nil || s == "" || strings.EqualFold(s, "local") {
						p.errf(tf.line, "%s: time: unknown zone %q (use an IANA name such as Asia/Tokyo or UTC)", what, s)
					} else {
						w.Zone, w.loc = s, loc
					}
				}
			case "weekdays":
				m, err := parseWeekdays(p.list(tf, what+": time"))
				if err != nil {
					p.errf(tf.line, "%s: time: %v", what, err)
				}
				w.Weekdays = m
			case "from", "to":
				if s, ok := p.str(tf, what+": time"); ok {
					v, err := parseClock(s, tf.key == "to")
					if err != nil {
						p.errf(tf.line, "%s: time: %s: %v", what, tf.key, err)
					}
					if tf.key == "from" {
						w.From, haveFrom = v, true
					} else {
						w.To, haveTo = v, true
					}
				}
			case "dates":
				for _, df := range p.fields(tf.value, what+": time: dates", "from", "to") {
					if s, ok := p.str(df, what+": time: dates"); ok {
						v, err := parseDate(s)
						if err != nil {
							p.errf(df.line, "%s: time: dates: %v", what, err)
						}
						if df.key == "from" {
							w.DateFrom = v
						} else {
							w.DateTo = v
						}
					}
				}
				if w.DateFrom != 0 && w.DateTo != 0 && w.DateFrom > w.DateTo {
					p.errf(tf.line, "%s: time: dates: from is after to", what)
				}
			}
		}
		if w.loc == nil && w.Zone == "" {
			p.errf(w.Line, "%s: time: \"zone\" is required (e.g. zone: Asia/Tokyo)", what)
			w.loc = time.UTC
		}
		if haveFrom != haveTo {
			p.errf(w.Line, "%s: time: give both \"from\" and \"to\" (or neither for the whole day)", what)
		} else if haveFrom && w.From == w.To {
			p.errf(w.Line, "%s: time: from and to are equal; omit both for the whole day", what)
		}
		if w.To == 1440 && w.From == 0 {
			w.To = 0 // 00:00–24:00 is the whole day
		}
		out = append(out, w)
	}
	return out
}
