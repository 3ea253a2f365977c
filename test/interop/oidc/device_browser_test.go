package oidc

import (
	"errors"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/sekisho/sekisho/internal/testutil/chromium"
)

// TestDeviceGrantInChromium: the device grant's page in a real browser. The device (x/oauth2)
// asks for codes; Chromium opens the verification URI without the code, signs in at Sekisho's
// form, types the code (lower case, no dash), sees the application and the code, approves; the
// device receives its tokens. The page's form works under its CSP and CSRF protection.
func TestDeviceGrantInChromium(t *testing.T) {
	exe := chromium.Command(t)
	e := start(t)
	conf := &oauth2.Config{ClientID: e.tv.Client.ClientID, Endpoint: e.provider.Endpoint(), Scopes: []string{"openid", "email"}}
	conf.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	da, err := conf.DeviceAuth(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	polled := make(chan error, 1)
	go func() {
		tok, err := conf.DeviceAccessToken(e.ctx, da)
		if err == nil && tok.Extra("id_token") == nil {
			err = errNoIDToken
		}
		polled <- err
	}()
	c := newChrome(t, exe)
	c.do(t, "the device page sends the browser to the sign-in page", chromedp.Navigate(da.VerificationURI), chromedp.WaitVisible(chromedp.CSS("#username")))
	c.do(t, "user name", chromedp.SendKeys(chromedp.CSS("#username"), "alice@example.com"), chromedp.Click(chromedp.CSS("#next")),
		chromedp.WaitVisible(chromedp.CSS("#password")))
	c.do(t, "password, then back to the device page", chromedp.SendKeys(chromedp.CSS("#password"), e.idp.Password("alice@example.com")),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#user_code")))
	typed := strings.ToLower(strings.ReplaceAll(da.UserCode, "-", ""))
	c.do(t, "the code, typed as a person would", chromedp.SendKeys(chromedp.CSS("#user_code"), typed), chromedp.Click(chromedp.CSS("#continue")),
		chromedp.WaitVisible(chromedp.CSS("#approve")))
	if got, app := c.text(t, "#user-code"), c.text(t, "#application"); got != da.UserCode || app != "television" {
		t.Fatalf("confirmation shows %q for %q", got, app)
	}
	c.do(t, "approve", chromedp.Click(chromedp.CSS("#approve")), chromedp.WaitVisible(chromedp.CSS("#device-done")))
	if err := <-polled; err != nil {
		t.Fatalf("the device: %v", err)
	}
	for _, d := range c.documents() {
		if strings.HasPrefix(d, "console error") {
			t.Errorf("the browser refused something: %s", d)
		}
	}
}

var errNoIDToken = errors.New("no ID token")
