package main

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A second `sekisho serve` on a port that is already in use stops at once with one sentence
// on stderr and exit status 1. The test binary runs main itself as the child process.
func TestServeBusyPortExits1(t *testing.T) {
	if args := os.Getenv("SEKISHO_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"sekisho"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	dir := filepath.Join(t.TempDir(), "d")
	mustRun(t, "", "init", "--data", dir)
	busy, err := net.Listen("tcp", "127.0.0.1:0") // the first server
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()

	cmd := exec.Command(os.Args[0], "-test.run=^TestServeBusyPortExits1$")
	cmd.Env = append(os.Environ(), "SEKISHO_METRICS_LISTEN=127.0.0.1:0", "SEKISHO_TEST_MAIN_ARGS="+strings.Join([]string{"serve", "--data", dir, "--listen", addr}, "\x1f"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second serve: %v (want exit status 1)\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	want := "sekisho: cannot listen on " + addr + ": the port is already in use (another sekisho serve?)\n"
	if !strings.HasSuffix(stderr.String(), want) {
		t.Fatalf("stderr does not end with %q:\n%s", want, stderr.String())
	}
	// A restart of an existing folder says where things are and how to get back in.
	for _, w := range []string{"Using the existing data folder " + dir, "/login", "/admin/", "sekisho user set-password", "--temporary"} {
		if !strings.Contains(stdout.String(), w) {
			t.Errorf("restart notice lacks %q:\n%s", w, stdout.String())
		}
	}
	if strings.Contains(stdout.String(), "is serving") {
		t.Fatalf("stdout claims the server runs:\n%s", stdout.String())
	}
}
