package bridge

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Relay joins a logged-in device to its upstream connection until either side ends, the
// login stops being good (Door.Watch every recheck interval) or ctx ends. Bytes already
// read into either side's buffer (a command the device pipelined after its login) are
// passed on first. It returns the number of bytes sent each way.
func (d *Door) Relay(ctx context.Context, l Login, recheck time.Duration, client net.Conn, cr *bufio.Reader, up net.Conn, ur *bufio.Reader) (toUp, toClient int64) {
	_ = client.SetDeadline(time.Time{})
	_ = up.SetDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			_ = client.Close()
			_ = up.Close()
		})
	}
	go func() {
		<-ctx.Done()
		closeBoth()
	}()
	go d.Watch(ctx, l, recheck, func(error) { closeBoth() })

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		toClient = copyBuffered(client, ur, up)
		closeBoth()
	}()
	toUp = copyBuffered(up, cr, client)
	closeBoth()
	wg.Wait()
	return toUp, toClient
}

// copyBuffered writes what r holds already, then copies from src (r's underlying reader is
// src; reading from it again after the buffer empties avoids bufio's extra copy).
func copyBuffered(dst io.Writer, r *bufio.Reader, src io.Reader) int64 {
	var n int64
	if k := r.Buffered(); k > 0 {
		b, _ := r.Peek(k)
		w, err := dst.Write(b)
		n += int64(w)
		if err != nil {
			return n
		}
		_, _ = r.Discard(k)
	}
	m, _ := io.Copy(dst, src)
	return n + m
}

// Serve accepts connections on l and runs handle for each in its own goroutine, at most
// maxConns at a time (refuse is called, and the connection closed, for one over the limit),
// until ctx ends; it then closes l and every open connection and waits for the handlers.
func Serve(ctx context.Context, l net.Listener, maxConns int, log *slog.Logger, refuse func(net.Conn), handle func(context.Context, net.Conn)) error {
	if maxConns <= 0 {
		maxConns = 1000
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	var wg sync.WaitGroup
	stop := context.AfterFunc(ctx, func() {
		_ = l.Close()
		mu.Lock()
		for c := range open {
			_ = c.Close()
		}
		mu.Unlock()
	})
	defer stop()
	sem := make(chan struct{}, maxConns)
	for {
		c, err := l.Accept()
		if err != nil {
			cancel()
			wg.Wait()
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		select {
		case sem <- struct{}{}:
		default:
			log.Warn("mail bridge: connection limit reached", "limit", maxConns, "remote", c.RemoteAddr().String())
			if refuse != nil {
				_ = c.SetDeadline(time.Now().Add(5 * time.Second))
				refuse(c)
			}
			_ = c.Close()
			continue
		}
		mu.Lock()
		open[c] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer func() {
				mu.Lock()
				delete(open, c)
				mu.Unlock()
				_ = c.Close()
				<-sem
				wg.Done()
			}()
			handle(ctx, c)
		}()
	}
}
