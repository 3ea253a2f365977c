package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat (100 on Linux).
const clockTick = 100

// procCPU returns the user+system CPU time process pid has used (its threads included).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// "pid (comm) state ppid …": comm may hold spaces, so count the fields after its ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no comm field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// phase is one measured stretch of one operation against one server process.
type phase struct {
	Name    string
	OK      int64
	Failed  int64
	Elapsed time.Duration
	CPU     time.Duration // the server process's CPU time during the stretch
	Sample  string        // the first failure, if any
}

func (p phase) Rate() float64 { return float64(p.OK) / p.Elapsed.Seconds() }

// PerCPU is operations per CPU-second of the server process.
func (p phase) PerCPU() float64 {
	if p.CPU <= 0 {
		return 0
	}
	return float64(p.OK) / p.CPU.Seconds()
}

func (p phase) String() string {
	s := fmt.Sprintf("%-44s %7.0f/s  %7.0f per CPU-second  (%d in %.1f s, server CPU %.2f s, %.2f cores)",
		p.Name, p.Rate(), p.PerCPU(), p.OK, p.Elapsed.Seconds(), p.CPU.Seconds(), p.CPU.Seconds()/p.Elapsed.Seconds())
	if p.Failed > 0 {
		s += fmt.Sprintf("; %d FAILED, first: %s", p.Failed, p.Sample)
	}
	return s
}

func (p phase) JSON() map[string]any {
	m := map[string]any{"per_cpu_second": round1(p.PerCPU()), "per_second": round1(p.Rate()), "ok": p.OK,
		"seconds": round1(p.Elapsed.Seconds()), "server_cpu_seconds": round1(p.CPU.Seconds())}
	if p.Failed > 0 {
		m["failed"], m["first_failure"] = p.Failed, p.Sample
	}
	return m
}

func round1(v float64) float64 { return float64(int64(v*10+0.5)) / 10 }

// op is one operation of worker w; it returns "" when the answer was the expected one, else
// what was wrong.
type op func(ctx context.Context, w int) string

// measure runs op from workers goroutines in a closed loop: first for warm (not counted),
// then for d, counting answers and the CPU time process pid spent meanwhile.
func measure(ctx context.Context, name string, pid, workers int, warm, d time.Duration, do op) (phase, error) {
	run := func(d time.Duration) (ok, failed int64, sample string) {
		var nOK, nFail atomic.Int64
		var once sync.Once
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) && ctx.Err() == nil {
					if problem := do(ctx, w); problem != "" {
						nFail.Add(1)
						once.Do(func() { sample = problem })
						continue
					}
					nOK.Add(1)
				}
			}()
		}
		wg.Wait()
		return nOK.Load(), nFail.Load(), sample
	}
	if _, failed, sample := run(warm); failed > 0 {
		return phase{}, fmt.Errorf("%s: warm-up failed %d times: %s", name, failed, sample)
	}
	cpu0, err := procCPU(pid)
	if err != nil {
		return phase{}, err
	}
	t0 := time.Now()
	ok, failed, sample := run(d)
	el := time.Since(t0)
	cpu1, err := procCPU(pid)
	if err != nil {
		return phase{}, err
	}
	return phase{Name: name, OK: ok, Failed: failed, Elapsed: el, CPU: cpu1 - cpu0, Sample: sample}, ctx.Err()
}
