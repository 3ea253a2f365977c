package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"io"
	"testing"
)

// BenchmarkEntraCSV measures the CSV path per row (the 1M-row run is make bench-legacy-report).
func BenchmarkEntraCSV(b *testing.B) {
	rows, _ := genCorpus(20000)
	data := writeCorpusCSV(rows, interactiveHeader, true)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		bl := NewBuilder(corpusOpts())
		if err := bl.AddEntraCSV(bytes.NewReader(data), "b.csv"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkEncodingCSV is the reference of BenchmarkEntraCSV: encoding/csv reading the same
// data and doing nothing with it (as bench/legacy-report's reference side).
func BenchmarkEncodingCSV(b *testing.B) {
	rows, _ := genCorpus(20000)
	data := writeCorpusCSV(rows, interactiveHeader, true)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		cr := csv.NewReader(bytes.NewReader(data))
		cr.ReuseRecord = true
		cr.FieldsPerRecord = -1
		for {
			if _, err := cr.Read(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkCSVRows is the report's CSV reader alone on BenchmarkEncodingCSV's data, copying
// the columns the report reads.
func BenchmarkCSVRows(b *testing.B) {
	rows, _ := genCorpus(20000)
	data := writeCorpusCSV(rows, interactiveHeader, true)
	keep := make([]bool, len(interactiveHeader))
	for i, h := range interactiveHeader {
		switch h {
		case "Date (UTC)", "Username", "User", "User ID", "Client app", "IP address", "User agent", "Status", "Sign-in error code":
			keep[i] = true
		}
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		x := newCSVRows(bufio.NewReaderSize(bytes.NewReader(data), 256<<10))
		x.keep = keep
		for {
			if _, _, err := x.Read(); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
}
