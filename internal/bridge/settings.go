package bridge

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// Settings are what every door (IMAP, POP3, SMTP) is configured with; each door's Server
// embeds them.
type Settings struct {
	Door     *Door
	Upstream *Upstream
	// TLS is the listener's certificate (implicit TLS, STARTTLS / STLS).
	TLS *tls.Config
	// AllowCleartextLogin lets a device log in without TLS: for old devices on a trusted
	// network only; the app password then crosses the network in clear.
	AllowCleartextLogin bool
	MaxConns            int           // open connections at once (default 1000)
	Recheck             time.Duration // how often an open connection's login is checked again (DefaultRecheck)
	PreAuthTimeout      time.Duration // idle before login (default 60 s)
	Log                 *slog.Logger
}

// PreAuth is the idle limit before login.
func (s Settings) PreAuth() time.Duration {
	if s.PreAuthTimeout <= 0 {
		return 60 * time.Second
	}
	return s.PreAuthTimeout
}

// Accept serves a door's connections on l until ctx ends (Serve): with implicitTLS each
// connection's TLS handshake is made first, within the pre-login limit; a connection over
// MaxConns is sent busy (a line in the door's protocol) on a cleartext port only — a TLS
// client could not read it — and closed.
func (s Settings) Accept(ctx context.Context, l net.Listener, implicitTLS bool, door, busy string, serve func(context.Context, net.Conn)) error {
	return Serve(ctx, l, s.MaxConns, s.Log, func(c net.Conn) {
		if !implicitTLS {
			_, _ = c.Write([]byte(busy))
		}
	}, func(ctx context.Context, c net.Conn) {
		if implicitTLS {
			tc := tls.Server(c, s.TLS)
			_ = tc.SetDeadline(time.Now().Add(s.PreAuth()))
			if err := tc.HandshakeContext(ctx); err != nil {
				s.Log.Debug(door+" bridge: TLS handshake", "remote", c.RemoteAddr().String(), "err", err)
				return
			}
			c = tc
		}
		serve(ctx, c)
	})
}
