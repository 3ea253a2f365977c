package wiring

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/sekisho/sekisho/internal/bridge"
	"github.com/sekisho/sekisho/internal/bridge/imapproxy"
	"github.com/sekisho/sekisho/internal/bridge/popproxy"
	"github.com/sekisho/sekisho/internal/bridge/smtpproxy"
	"github.com/sekisho/sekisho/internal/config"
)

// MailBridge is the running mail bridge: its listeners' addresses, and Wait for them to end.
type MailBridge struct {
	Addrs map[string]net.Addr // "imap", "imap-starttls", "pop", …
	wg    sync.WaitGroup
	errs  chan error
}

// Listening lists "door address" for each listener, sorted (none for a nil bridge).
func (b *MailBridge) Listening() []string {
	var out []string
	if b == nil {
		return out
	}
	for name, a := range b.Addrs {
		out = append(out, name+" "+a.String())
	}
	slices.Sort(out)
	return out
}

// Wait blocks until every listener has stopped (after ctx ended) and returns the first error.
func (b *MailBridge) Wait() error {
	b.wg.Wait()
	close(b.errs)
	return <-b.errs
}

// StartMailBridge opens the mail bridge's configured listeners (bridge.* in sekisho.yaml)
// with the server's certificate, and serves them until ctx ends. It returns nil, nil when
// no listener is configured.
func (s *Services) StartMailBridge(ctx context.Context, serverTLS *tls.Config) (*MailBridge, error) {
	in := s.Instance
	cfg := in.Config.Bridge
	if !cfg.Enabled() {
		return nil, nil
	}
	up, err := s.bridgeUpstream(cfg.Upstream)
	if err != nil {
		return nil, err
	}
	door := &bridge.Door{Gate: s.Gate, Evaluator: s.Gate, Recorder: s.Gate, Store: in.Store, Application: cfg.Application, Log: in.Log}
	listenTLS := serverTLS.Clone()
	listenTLS.NextProtos = nil
	doors := bridge.Settings{Door: door, Upstream: up, TLS: listenTLS, AllowCleartextLogin: cfg.AllowCleartextLogin,
		MaxConns: cfg.MaxConnections, Recheck: cfg.Recheck.D(), Log: in.Log}
	imap := &imapproxy.Server{Settings: doors}
	type listener struct {
		name, addr string
		serve      func(context.Context, net.Listener) error
	}
	var ls []listener
	if a := cfg.IMAP.TLSListen; a != "" {
		ls = append(ls, listener{"imap", a, func(ctx context.Context, l net.Listener) error { return imap.Serve(ctx, l, true) }})
	}
	if a := cfg.IMAP.StartTLSListen; a != "" {
		ls = append(ls, listener{"imap-starttls", a, func(ctx context.Context, l net.Listener) error { return imap.Serve(ctx, l, false) }})
	}
	pop := &popproxy.Server{Settings: doors}
	if a := cfg.POP.TLSListen; a != "" {
		ls = append(ls, listener{"pop", a, func(ctx context.Context, l net.Listener) error { return pop.Serve(ctx, l, true) }})
	}
	if a := cfg.POP.StartTLSListen; a != "" {
		ls = append(ls, listener{"pop-starttls", a, func(ctx context.Context, l net.Listener) error { return pop.Serve(ctx, l, false) }})
	}
	// The SMTP greeting and the EHLO to the upstream name Sekisho's public host.
	domain := "localhost"
	if u, err := url.Parse(in.Config.BaseURL); err == nil && u.Hostname() != "" {
		domain = u.Hostname()
	}
	submit := &smtpproxy.Server{Settings: doors, MaxMessageBytes: cfg.MaxMessageBytes, Domain: domain}
	if a := cfg.SMTP.TLSListen; a != "" {
		ls = append(ls, listener{"smtp", a, func(ctx context.Context, l net.Listener) error { return submit.Serve(ctx, l, true) }})
	}
	if a := cfg.SMTP.StartTLSListen; a != "" {
		ls = append(ls, listener{"smtp-starttls", a, func(ctx context.Context, l net.Listener) error { return submit.Serve(ctx, l, false) }})
	}
	b := &MailBridge{Addrs: map[string]net.Addr{}, errs: make(chan error, len(ls))}
	var opened []net.Listener
	for _, l := range ls {
		nl, err := net.Listen("tcp", l.addr)
		if err != nil {
			for _, o := range opened {
				_ = o.Close()
			}
			return nil, fmt.Errorf("bridge %s listener: %w", l.name, err)
		}
		opened = append(opened, nl)
		b.Addrs[l.name] = nl.Addr()
		if cfg.ProxyProtocol {
			nl = bridge.ProxyListener(nl, s.trustedProxies, doors.PreAuth())
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			if err := l.serve(ctx, nl); err != nil {
				b.errs <- fmt.Errorf("bridge %s: %w", l.name, err)
			}
		}()
		in.Log.Info("mail bridge listening", "door", l.name, "addr", nl.Addr().String())
	}
	return b, nil
}

// bridgeUpstream is the upstream mail server of the configuration.
func (s *Services) bridgeUpstream(u config.BridgeUpstream) (*bridge.Upstream, error) {
	in := s.Instance
	u = bridgeWithDefaults(in.Config.Bridge, u)
	up := &bridge.Upstream{
		IMAP:      bridge.Endpoint{Address: u.IMAP, TLS: config.UpstreamTLS(u.IMAPTLS, u.IMAP)},
		POP:       bridge.Endpoint{Address: u.POP, TLS: config.UpstreamTLS(u.POPTLS, u.POP)},
		SMTP:      bridge.Endpoint{Address: u.SMTP, TLS: config.UpstreamTLS(u.SMTPTLS, u.SMTP)},
		Mechanism: strings.ToUpper(u.Mechanism),
		TLS:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	if up.Mechanism == "" {
		up.Mechanism = bridge.XOAuth2
	}
	if u.CAFile != "" {
		pem, err := os.ReadFile(in.Config.Resolve(u.CAFile))
		if err != nil {
			return nil, fmt.Errorf("bridge.upstream.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("bridge.upstream.ca_file %s: no PEM certificate in it", u.CAFile)
		}
		up.TLS.RootCAs = pool
	}
	tokens, err := s.bridgeTokens(u)
	if err != nil {
		return nil, err
	}
	up.Tokens = tokens
	return up, nil
}
