package report

import (
	"bytes"
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
