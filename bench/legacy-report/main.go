// Command legacy-report measures the Basic-auth retirement report on a 1,000,000-row Entra
// sign-in CSV: rows per second (read, aggregate, finish, JSON output) and peak RSS (of the
// whole child, which also renders the HTML page). The reference, measured in the same run on the
// same file, is plain encoding/csv (ReuseRecord) doing nothing with the rows: what reading the
// file with the standard library costs (the report's own reader splits most lines faster, and
// hands the rest to encoding/csv). Each side runs in its own child process so that each peak
// RSS (getrusage ru_maxrss) is its own; each also reports its CPU time, which a shared machine
// disturbs less than the wall time the ratio is taken from. -cpuprofile and -memprofile profile
// the report side.
package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/sekisho/sekisho/bench/benchjson"
	"github.com/sekisho/sekisho/internal/report"
)

type childResult struct {
	Rows    int     `json:"rows"`
	Seconds float64 `json:"seconds"`
	// CPUSeconds is the CPU time (user and system, every thread) of the measured part: less
	// disturbed than Seconds when the machine is shared.
	CPUSeconds float64 `json:"cpu_seconds"`
	Pairs      int     `json:"pairs,omitempty"`
	// HTMLSeconds is rendering the HTML page after the JSON (per pair, not per row).
	HTMLSeconds float64 `json:"html_seconds,omitempty"`
}

func main() {
	rows := flag.Int("rows", 1_000_000, "rows in the generated export")
	child := flag.String("child", "", "internal: run one side (csv|report) on -file")
	file := flag.String("file", "", "internal: the export to read")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the report side to this file")
	flag.StringVar(&memProfile, "memprofile", "", "write an allocation profile of the report side to this file")
	flag.Parse()
	if *child != "" {
		if err := runChild(*child, *file); err != nil {
			fmt.Fprintln(os.Stderr, "legacy-report:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(*rows); err != nil {
		fmt.Fprintln(os.Stderr, "legacy-report:", err)
		os.Exit(1)
	}
}

var cpuProfile, memProfile string

func run(n int) error {
	dir, err := os.MkdirTemp("", "legacy-report-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "InteractiveSignIns.csv")
	if err := generate(path, n); err != nil {
		return err
	}
	st, _ := os.Stat(path)
	fmt.Printf("generated %s: %d rows, %.1f MB\n", path, n, float64(st.Size())/1e6)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// Warm the page cache so that both sides read from memory.
	if _, err := measure(self, "csv", path); err != nil {
		return err
	}
	ref, err := measure(self, "csv", path)
	if err != nil {
		return err
	}
	rep, err := measure(self, "report", path)
	if err != nil {
		return err
	}
	refRate := float64(ref.Rows) / ref.Seconds
	rate := float64(rep.Rows) / rep.Seconds
	fmt.Printf("encoding/csv only: %d rows in %.2fs = %.0f rows/s (CPU %.2fs), peak RSS %.1f MB\n", ref.Rows, ref.Seconds, refRate, ref.CPUSeconds, ref.rssMB)
	fmt.Printf("report:            %d rows in %.2fs = %.0f rows/s (CPU %.2fs), peak RSS %.1f MB, %d (user, client) pairs\n",
		rep.Rows, rep.Seconds, rate, rep.CPUSeconds, rep.rssMB, rep.Pairs)
	fmt.Printf("ratio: %.3f (wall), %.3f (CPU)\n", rate/refRate, ref.CPUSeconds/rep.CPUSeconds)
	benchjson.Print(benchjson.Result{Bench: "legacy-report", Value: rate, Unit: "rows/s",
		Reference: "encoding/csv reading the same file, no work (same run)", ReferenceValue: refRate,
		Extra: map[string]any{"rows": rep.Rows, "file_mb": round1(float64(st.Size()) / 1e6),
			"peak_rss_mb": round1(rep.rssMB), "reference_peak_rss_mb": round1(ref.rssMB), "pairs": rep.Pairs,
			"html_seconds": round1(rep.HTMLSeconds),
			"cpu_seconds":  round2(rep.CPUSeconds), "reference_cpu_seconds": round2(ref.CPUSeconds), "cpu_ratio": round2(ref.CPUSeconds / rep.CPUSeconds), "measured": "read+aggregate+finish+JSON; HTML rendered after, peak RSS covers both"}})
	return nil
}

func round1(v float64) float64 { return float64(int(v*10+0.5)) / 10 }
func round2(v float64) float64 { return float64(int(v*100+0.5)) / 100 }

// cpuTime is the process's CPU time so far (user and system, every thread).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type measured struct {
	childResult
	rssMB float64
}

func measure(self, side, path string) (measured, error) {
	args := []string{"-child", side, "-file", path}
	if side == "report" {
		args = append(args, "-cpuprofile", cpuProfile, "-memprofile", memProfile)
	}
	cmd := exec.Command(self, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return measured{}, fmt.Errorf("%s child: %w", side, err)
	}
	var m measured
	if err := json.Unmarshal(out, &m.childResult); err != nil {
		return measured{}, fmt.Errorf("%s child output %q: %w", side, out, err)
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rssMB = float64(ru.Maxrss) / 1024 // Linux: kilobytes
	}
	return m, nil
}

func runChild(side, path string) error {
	start, cpu0 := time.Now(), cpuTime()
	var res childResult
	switch side {
	case "csv":
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		r := csv.NewReader(bufio.NewReaderSize(f, 256<<10))
		r.ReuseRecord = true
		r.FieldsPerRecord = -1
		if _, err := r.Read(); err != nil { // header
			return err
		}
		for {
			_, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return err
			}
			res.Rows++
		}
	case "report":
		if cpuProfile != "" {
			f, err := os.Create(cpuProfile)
			if err != nil {
				return err
			}
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
		if memProfile != "" {
			runtime.MemProfileRate = 64 << 10
			defer func() {
				if f, err := os.Create(memProfile); err == nil {
					pprof.Lookup("allocs").WriteTo(f, 0)
					f.Close()
				}
			}()
		}
		b := report.NewBuilder(report.Options{Now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
			Networks: map[string][]netip.Prefix{"office": {netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("2001:db8:10::/48")}}})
		if err := b.AddEntraFile(path); err != nil {
			return err
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		tRead := time.Since(start)
		rep := b.Finish()
		tFinish := time.Since(start)
		if err := rep.WriteJSON(io.Discard); err != nil {
			return err
		}
		res.Seconds = time.Since(start).Seconds() // the measured value: read, aggregate, finish, JSON out
		res.CPUSeconds = (cpuTime() - cpu0).Seconds()
		tJSON := time.Since(start)
		if err := rep.WriteHTML(io.Discard, "ja"); err != nil {
			return err
		}
		res.HTMLSeconds = (time.Since(start) - tJSON).Seconds()
		fmt.Fprintf(os.Stderr, "report phases: read+aggregate %.2fs (heap in use %.0f MB), finish %.2fs, json %.2fs, html %.2fs\n",
			tRead.Seconds(), float64(ms.HeapInuse)/1e6, (tFinish - tRead).Seconds(), (tJSON - tFinish).Seconds(), res.HTMLSeconds)
		res.Rows = rep.Sources[0].Rows
		res.Pairs = len(rep.Rows)
		if rep.MalformedTotal != 0 {
			return fmt.Errorf("%d malformed rows in a generated file", rep.MalformedTotal)
		}
	default:
		return fmt.Errorf("unknown side %q", side)
	}
	if res.Seconds == 0 {
		res.Seconds = time.Since(start).Seconds()
		res.CPUSeconds = (cpuTime() - cpu0).Seconds()
	}
	return json.NewEncoder(os.Stdout).Encode(res)
}

// generate writes a portal-style interactive export (UTF-8 with BOM) of n rows: 2,000 users,
// every client-app value, IPv4 and IPv6, three statuses, 30 days.
func generate(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	bw.WriteString("\ufeff")
	w := csv.NewWriter(bw)
	w.Write([]string{"Date (UTC)", "Request ID", "User agent", "Correlation ID", "User ID", "User", "Username",
		"User type", "Incoming token type", "Application", "Application ID", "IP address", "Location", "Status",
		"Sign-in error code", "Failure reason", "Client app", "Token issuer type", "IP address (seen by resource)"})
	apps := report.EntraClientApps
	uas := []string{"Apple-iPhone9C1/1602.92", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0",
		"Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17328)", "RICOH MP C3004", "Thunderbird/115.0"}
	status := []string{"Success", "Success", "Failure", "Interrupted"}
	codes := []string{"0", "0", "50126", "50074"}
	base := time.Date(2026, 1, 30, 0, 0, 0, 0, time.UTC)
	rec := make([]string, 19)
	for i := 0; i < n; i++ {
		u := (i / 16 * 7919) % 2000
		var ip string
		switch {
		case i%3 == 0:
			ip = fmt.Sprintf("2001:db8:%x::%x", 0x10+i%2*0xef, i%4000+1)
		case i%5 < 2:
			ip = fmt.Sprintf("203.0.113.%d", i%250+1)
		default:
			ip = fmt.Sprintf("198.51.%d.%d", i%200, i%250+1)
		}
		rec[0] = base.Add(time.Duration(i) * 30 * 24 * time.Hour / time.Duration(n)).Format("2006-01-02T15:04:05Z")
		rec[1] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		rec[2] = uas[i%len(uas)]
		rec[3] = fmt.Sprintf("c%07x", i)
		rec[4] = fmt.Sprintf("%08x-1111-4000-8000-000000000000", u)
		rec[5] = fmt.Sprintf("User %d", u)
		rec[6] = fmt.Sprintf("user%d@contoso.example", u)
		rec[7], rec[8] = "Member", "None"
		rec[9], rec[10] = "Office 365 Exchange Online", "00000002-0000-0ff1-ce00-000000000000"
		rec[11], rec[12] = ip, "Tokyo, Tokyo, JP"
		rec[13], rec[14], rec[15] = status[i%4], codes[i%4], ""
		rec[16] = apps[i%len(apps)].Name
		rec[17], rec[18] = "AzureAD", ip
		if err := w.Write(rec); err != nil {
			return err
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return f.Close()
}
