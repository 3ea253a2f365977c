package clustertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"
)

// RunMain runs fn with a testing.TB for a command (a benchmark's main), so that it can use
// the helpers of this package: Fatal and FailNow end fn, Skip ends it too (reported as an
// error), Log goes to standard error, and the cleanups (the nodes, temporary folders,
// schemas) run in reverse order when fn returns or ends. SIGINT and SIGTERM cancel Context,
// so a load stops and the cleanups still run. It returns an error when fn failed.
func RunMain(name string, fn func(t testing.TB)) (err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	t := &mainTB{name: name, ctx: ctx}
	defer func() {
		r := recover()
		t.runCleanups()
		switch {
		case r == nil || r == errMainFatal:
		case r == errMainSkip:
			t.failed = true
		default:
			panic(r)
		}
		if t.failed {
			err = fmt.Errorf("%s failed", name)
		}
	}()
	fn(t)
	return nil
}

var (
	errMainFatal = errors.New("fatal")
	errMainSkip  = errors.New("skip")
)

// mainTB implements the part of testing.TB the helpers use; the embedded (nil) interface
// only supplies the unexported method, so anything else panics.
type mainTB struct {
	testing.TB
	name string
	ctx  context.Context

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

func (t *mainTB) Helper()                           {}
func (t *mainTB) Name() string                      { return t.name }
func (t *mainTB) Context() context.Context          { return t.ctx }
func (t *mainTB) Output() io.Writer                 { return os.Stderr }
func (t *mainTB) Log(args ...any)                   { fmt.Fprintln(os.Stderr, args...) }
func (t *mainTB) Logf(format string, args ...any)   { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (t *mainTB) Fail()                             { t.mu.Lock(); t.failed = true; t.mu.Unlock() }
func (t *mainTB) Failed() bool                      { t.mu.Lock(); defer t.mu.Unlock(); return t.failed }
func (t *mainTB) FailNow()                          { t.Fail(); panic(errMainFatal) }
func (t *mainTB) Error(args ...any)                 { t.Log(args...); t.Fail() }
func (t *mainTB) Errorf(format string, args ...any) { t.Logf(format, args...); t.Fail() }
func (t *mainTB) Fatal(args ...any)                 { t.Log(args...); t.FailNow() }
func (t *mainTB) Fatalf(format string, args ...any) { t.Logf(format, args...); t.FailNow() }
func (t *mainTB) Skip(args ...any)                  { t.Log(append([]any{"skipped:"}, args...)...); panic(errMainSkip) }
func (t *mainTB) Skipf(format string, args ...any) {
	t.Logf("skipped: "+format, args...)
	panic(errMainSkip)
}
func (t *mainTB) SkipNow()      { panic(errMainSkip) }
func (t *mainTB) Skipped() bool { return false }

func (t *mainTB) Cleanup(f func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.cleanups = append(t.cleanups, f)
}

func (t *mainTB) TempDir() string {
	dir, err := os.MkdirTemp("", "sekisho-"+t.name+"-")
	if err != nil {
		t.Fatalf("TempDir: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func (t *mainTB) Setenv(key, value string) {
	old, had := os.LookupEnv(key)
	os.Setenv(key, value)
	t.Cleanup(func() {
		if had {
			os.Setenv(key, old)
		} else {
			os.Unsetenv(key)
		}
	})
}

func (t *mainTB) runCleanups() {
	for {
		t.mu.Lock()
		if len(t.cleanups) == 0 {
			t.mu.Unlock()
			return
		}
		f := t.cleanups[len(t.cleanups)-1]
		t.cleanups = t.cleanups[:len(t.cleanups)-1]
		t.mu.Unlock()
		func() {
			defer func() {
				if r := recover(); r != nil && r != errMainFatal && r != errMainSkip {
					fmt.Fprintln(os.Stderr, "cleanup panicked:", r)
				}
			}()
			f()
		}()
	}
}
