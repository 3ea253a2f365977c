package idptest

import (
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

var (
	loginHiddenRe = regexp.MustCompile(`<input type="hidden" name="(csrf|return_to|force|app)" value="([^"]*)">`)
	deviceCSRFRe  = regexp.MustCompile(`<input type="hidden" name="csrf" value="([^"]*)">`)
)

// ApproveDevice is a user approving a device code (RFC 8628) as on a phone: a fresh browser
// opens verificationURIComplete (the device page with the code filled in), signs in as user
// with password at Sekisho's form, and approves the code on the confirmation page.
func (p *IdP) ApproveDevice(t testing.TB, verificationURIComplete, user, password string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: p.Client().Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(method, u string, form url.Values) (*http.Response, string) {
		t.Helper()
		var resp *http.Response
		var err error
		if method == http.MethodPost {
			resp, err = c.PostForm(u, form)
		} else {
			resp, err = c.Get(u)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", method, u, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(body)
	}
	vu, err := url.Parse(verificationURIComplete)
	if err != nil || vu.Query().Get("user_code") == "" {
		t.Fatalf("verification URI %q has no user code", verificationURIComplete)
	}
	u, page := verificationURIComplete, ""
	for i := 0; ; i++ {
		if i == 8 {
			t.Fatal("device page: too many redirects")
		}
		resp, body := do(http.MethodGet, u, nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/login?") {
			_, login := do(http.MethodGet, p.URL+loc, nil)
			form := url.Values{"step": {"password"}, "username": {user}, "password": {password}}
			for _, m := range loginHiddenRe.FindAllStringSubmatch(login, -1) {
				form.Set(m[1], html.UnescapeString(m[2]))
			}
			resp, body = do(http.MethodPost, p.URL+"/login", form)
			if resp.StatusCode != http.StatusSeeOther {
				t.Fatalf("sign-in as %s: %d\n%.500s", user, resp.StatusCode, body)
			}
			u = p.URL + resp.Header.Get("Location")
			continue
		}
		if resp.StatusCode == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
			u = p.URL + loc
			continue
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("device page: %d\n%.500s", resp.StatusCode, body)
		}
		page = body
		break
	}
	m := deviceCSRFRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("device page: no CSRF field:\n%.500s", page)
	}
	resp, body := do(http.MethodPost, p.URL+"/oidc/device", url.Values{"csrf": {html.UnescapeString(m[1])},
		"user_code": {vu.Query().Get("user_code")}, "action": {"approve"}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `id="device-done"`) {
		t.Fatalf("approve the device code: %d\n%.500s", resp.StatusCode, body)
	}
}
