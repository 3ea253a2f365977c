package bridge

import (
	"crypto/tls"
	"log/slog"
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
