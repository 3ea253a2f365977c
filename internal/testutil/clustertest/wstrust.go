package clustertest

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// WSTrustResult is what one WS-Trust 1.3 call (MSAL's username/password request) got.
type WSTrustResult struct {
	Status int
	Body   string
}

// Issued reports whether the node issued a token.
func (r WSTrustResult) Issued() bool {
	return r.Status == http.StatusOK && strings.Contains(r.Body, "RequestSecurityTokenResponse")
}

var assertionIDRE = regexp.MustCompile(`AssertionID="([^"]+)"`)

// AssertionID returns the issued assertion's ID ("_" and the sign-in record's reference ID),
// or "".
func (r WSTrustResult) AssertionID() string {
	if m := assertionIDRE.FindStringSubmatch(r.Body); m != nil {
		return m[1]
	}
	return ""
}

var certRE = regexp.MustCompile(`<(?:\w+:)?X509Certificate>([^<]+)</`)

// SigningCert returns the base64 certificate the token's signature names ("" if none).
func (r WSTrustResult) SigningCert() string {
	if m := certRE.FindStringSubmatch(r.Body); m != nil {
		return m[1]
	}
	return ""
}

// WSTrust sends a WS-Trust 1.3 Issue request for user and password to the node's
// usernamemixed endpoint, as MSAL does for a federated user.
func (c *Cluster) WSTrust(ctx context.Context, client *http.Client, n *Node, user, password string) (WSTrustResult, error) {
	now := time.Now().UTC()
	env := fmt.Sprintf(rstTemplate, now.Format("2006-01-02T15:04:05.000Z"), now.Add(10*time.Minute).Format("2006-01-02T15:04:05.000Z"),
		xmlEscape(user), xmlEscape(password))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL+"/adfs/services/trust/13/usernamemixed", strings.NewReader(env))
	if err != nil {
		return WSTrustResult{}, err
	}
	req.Header.Set("Content-Type", "application/soap+xml; charset=utf-8")
	resp, err := client.Do(req)
	if err != nil {
		return WSTrustResult{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return WSTrustResult{Status: resp.StatusCode, Body: string(b)}, err
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&apos;").Replace(s)
}

const rstTemplate = `<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="http://www.w3.org/2005/08/addressing" xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">` +
	`<s:Header><wsa:Action s:mustUnderstand="1">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue</wsa:Action><wsa:messageID>urn:uuid:6a2c8f1e-0d7b-4c1e-9b59-3c1f0e1d2a4b</wsa:messageID>` +
	`<wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo>` +
	`<wsse:Security s:mustUnderstand="1" xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd">` +
	`<wsu:Timestamp wsu:Id="_0"><wsu:Created>%s</wsu:Created><wsu:Expires>%s</wsu:Expires></wsu:Timestamp>` +
	`<wsse:UsernameToken wsu:Id="u1"><wsse:Username>%s</wsse:Username><wsse:Password>%s</wsse:Password></wsse:UsernameToken></wsse:Security>` +
	`</s:Header><s:Body><wst:RequestSecurityToken xmlns:wst="http://docs.oasis-open.org/ws-sx/ws-trust/200512">` +
	`<wsp:AppliesTo xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"><wsa:EndpointReference><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo>` +
	`<wst:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</wst:KeyType><wst:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</wst:RequestType></wst:RequestSecurityToken></s:Body></s:Envelope>`

// Within polls cond every 20 ms until it holds or limit passes, and returns how long it took.
func Within(limit time.Duration, cond func() (bool, error)) (time.Duration, error) {
	start := time.Now()
	for {
		ok, err := cond()
		if err != nil {
			return time.Since(start), err
		}
		if ok {
			return time.Since(start), nil
		}
		if time.Since(start) > limit {
			return time.Since(start), fmt.Errorf("not within %v", limit)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
