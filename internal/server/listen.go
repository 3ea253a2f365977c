package server

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// listen opens the TCP listener on addr. A port another process holds (typically a second
// `sekisho serve`) is said in one sentence instead of the socket layer's wording.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, &listenError{addr: addr, err: err}
	}
	return ln, nil
}

// listenError is a failed listen; it unwraps to the socket error (errors.Is(err,
// syscall.EADDRINUSE) holds for a busy port).
type listenError struct {
	addr string
	err  error
}

func (e *listenError) Error() string {
	if errors.Is(e.err, syscall.EADDRINUSE) {
		return fmt.Sprintf("cannot listen on %s: the port is already in use (another sekisho serve?)", e.addr)
	}
	return fmt.Sprintf("cannot listen on %s: %v", e.addr, e.err)
}

func (e *listenError) Unwrap() error { return e.err }
