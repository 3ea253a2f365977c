package clustertest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptrace"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// TLSConfig trusts the cluster's managed CA (demo-ca.pem, written by init) and, with cert,
// presents it as the client (device) certificate whenever a node asks for one.
func (c *Cluster) TLSConfig(cert *tls.Certificate) *tls.Config {
	tc := &tls.Config{}
	if b, err := os.ReadFile(filepath.Join(c.Dir, "demo-ca.pem")); err == nil {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		tc.RootCAs = pool
	} else {
		tc.InsecureSkipVerify = true //nolint:gosec // clusters without init: the caller checks
	}
	if cert != nil {
		cc := *cert
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cc, nil }
	}
	return tc
}

// Browser is a web browser at the cluster's sign-in pages: one cookie jar for every node (a
// jar keeps cookies per host name, not per port, and the nodes share 127.0.0.1, as they share
// one name behind a load balancer), no automatic redirects, keep-alive connections, and
// optionally a TLS client certificate.
type Browser struct {
	Jar  *cookiejar.Jar
	HTTP *http.Client
}

// NewBrowser returns a browser with no cookies; cert (may be nil) is its device certificate.
func (c *Cluster) NewBrowser(cert *tls.Certificate) *Browser {
	jar, _ := cookiejar.New(nil)
	return &Browser{Jar: jar, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second,
		Transport:     &http.Transport{TLSClientConfig: c.TLSConfig(cert), MaxIdleConnsPerHost: 4},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// FreshGet GETs path from n on a connection of its own (a new TLS handshake, no cookies),
// presenting cert when it is non-nil. It returns the status, or the error of the handshake
// or of the request.
func (c *Cluster) FreshGet(ctx context.Context, n *Node, cert *tls.Certificate, path string) (int, error) {
	tr := &http.Transport{TLSClientConfig: c.TLSConfig(cert), DisableKeepAlives: true}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, n.URL+path, nil)
	if err != nil {
		return 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// Page is one answer the browser got.
type Page struct {
	Status   int
	Location string // the Location header of a redirect
	Body     string
	Reused   bool // the request went over a connection opened before
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// CSRF returns the page's CSRF hidden field ("" if none).
func (p Page) CSRF() string {
	if m := csrfField.FindStringSubmatch(p.Body); m != nil {
		return m[1]
	}
	return ""
}

// Redirected reports whether the page is a redirect to path (ignoring the query).
func (p Page) Redirected(path string) bool {
	if p.Status != http.StatusSeeOther && p.Status != http.StatusFound {
		return false
	}
	u, err := url.Parse(p.Location)
	return err == nil && u.Path == path
}

func (p Page) String() string {
	b := p.Body
	if len(b) > 600 {
		b = b[:600] + "…"
	}
	return fmt.Sprintf("%d (Location %q)\n%s", p.Status, p.Location, b)
}

func (b *Browser) do(ctx context.Context, method, target string, form url.Values) (Page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	var p Page
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { p.Reused = i.Reused }})
	req, err := http.NewRequestWithContext(ctx, method, target, body)
	if err != nil {
		return p, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.HTTP.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	p.Status, p.Location, p.Body = resp.StatusCode, resp.Header.Get("Location"), string(raw)
	return p, err
}

// Get GETs path (with its query) from node n.
func (b *Browser) Get(ctx context.Context, n *Node, path string) (Page, error) {
	return b.do(ctx, http.MethodGet, n.URL+path, nil)
}

// Post POSTs form to path on node n.
func (b *Browser) Post(ctx context.Context, n *Node, path string, form url.Values) (Page, error) {
	return b.do(ctx, http.MethodPost, n.URL+path, form)
}

// Follow GETs path from n and follows the node's own redirects (relative ones, on the same
// node) up to ten times; it returns the last page and the path (with query) it came from.
func (b *Browser) Follow(ctx context.Context, n *Node, path string) (Page, string, error) {
	for range 10 {
		p, err := b.Get(ctx, n, path)
		if err != nil || (p.Status != http.StatusSeeOther && p.Status != http.StatusFound) {
			return p, path, err
		}
		u, err := url.Parse(p.Location)
		if err != nil || u.Host != "" || !strings.HasPrefix(p.Location, "/") {
			return p, path, err // another host's (or an absolute) URL: not followed
		}
		path = p.Location
	}
	return Page{}, path, fmt.Errorf("more than ten redirects from %s", path)
}

// SignIn signs in at n's /login with the password, as a person does: it GETs the form for
// returnTo, takes its CSRF field and POSTs the password step. It returns the answer to the
// POST (a redirect to returnTo when the sign-in succeeded).
func (b *Browser) SignIn(ctx context.Context, n *Node, user, password, returnTo string) (Page, error) {
	form, err := b.Get(ctx, n, "/login?"+url.Values{"return_to": {returnTo}, "login_hint": {user}}.Encode())
	if err != nil {
		return form, err
	}
	csrf := form.CSRF()
	if form.Status != http.StatusOK || csrf == "" {
		return form, fmt.Errorf("no sign-in form at %s/login: %s", n.Name, form)
	}
	return b.Post(ctx, n, "/login", url.Values{"csrf": {csrf}, "step": {"password"}, "username": {user},
		"password": {password}, "return_to": {returnTo}})
}

// Cookie returns the value of the cookie the browser would send to n ("" if none).
func (b *Browser) Cookie(n *Node, name string) string {
	u, _ := url.Parse(n.URL + "/")
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// SetCookie gives the browser a cookie for n (and every other node: see Browser).
func (b *Browser) SetCookie(n *Node, name, value string) {
	u, _ := url.Parse(n.URL + "/")
	b.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/", Secure: true}})
}
