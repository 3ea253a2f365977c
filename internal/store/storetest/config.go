package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

func testApplications(t *testing.T, s store.Store) {
	c := ctx(t)
	a := store.Application{ID: "a1", Name: "Microsoft 365", Protocol: "wsfed", EntityID: "urn:federation:MicrosoftOnline",
		Config: []byte(`{"domain":"example.com","raw":"\u0000\u00ff"}`), CreatedAt: base, UpdatedAt: base}
	ok(t, s.CreateApplication(c, a))
	tests := []struct {
		name string
		a    store.Application
	}{
		{"name other case", store.Application{ID: "a2", Name: "MICROSOFT 365", Protocol: "saml", EntityID: "x"}},
		{"same protocol and entity", store.Application{ID: "a3", Name: "Other", Protocol: "wsfed", EntityID: a.EntityID}},
	}
	for _, tc := range tests {
		isErr(t, s.CreateApplication(c, tc.a), store.ErrConflict)
	}
	// The same entity ID under another protocol is a different application.
	b := store.Application{ID: "a4", Name: "m365 saml", Protocol: "saml", EntityID: a.EntityID, CreatedAt: base, UpdatedAt: base}
	ok(t, s.CreateApplication(c, b))

	got, err := s.GetApplication(c, "microsoft 365")
	ok(t, err)
	equal(t, "GetApplication", got, a)
	got, err = s.GetApplicationByEntityID(c, "saml", a.EntityID)
	ok(t, err)
	equal(t, "GetApplicationByEntityID", got, b)
	_, err = s.GetApplicationByEntityID(c, "oidc", a.EntityID)
	isErr(t, err, store.ErrNotFound)
	list, err := s.ListApplications(c)
	ok(t, err)
	equal(t, "ListApplications", list, []store.Application{b, a})

	got, err = s.UpdateApplication(c, "MICROSOFT 365", func(old store.Application) (store.Application, error) {
		old.Name, old.Config = "Office", []byte(`{}`)
		return old, nil
	})
	ok(t, err)
	if got.ID != "a1" || got.Name != "Office" || string(got.Config) != `{}` || !got.UpdatedAt.After(base) {
		t.Fatalf("UpdateApplication = %+v", got)
	}
	_, err = s.GetApplication(c, "microsoft 365")
	isErr(t, err, store.ErrNotFound)
	_, err = s.UpdateApplication(c, "office", func(old store.Application) (store.Application, error) {
		old.Name = "M365 SAML"
		return old, nil
	})
	isErr(t, err, store.ErrConflict)

	ok(t, s.DeleteApplication(c, "OFFICE"))
	isErr(t, s.DeleteApplication(c, "office"), store.ErrNotFound)
	_, err = s.UpdateApplication(c, "office", func(a store.Application) (store.Application, error) { return a, nil })
	isErr(t, err, store.ErrNotFound)
}

func testNetworks(t *testing.T, s store.Store) {
	c := ctx(t)
	n := store.Network{Name: "Office", Description: "HQ", CIDRs: []string{"203.0.113.0/24", "2001:db8::/32"}, UpdatedAt: base}
	ok(t, s.PutNetwork(c, n))
	got, err := s.GetNetwork(c, "office")
	ok(t, err)
	equal(t, "GetNetwork", got, n)

	// Put with another case replaces the same network.
	n2 := store.Network{Name: "OFFICE", CIDRs: []string{"198.51.100.0/24"}, UpdatedAt: base.Add(time.Minute)}
	ok(t, s.PutNetwork(c, n2))
	ok(t, s.PutNetwork(c, store.Network{Name: "exchange-online"}))
	list, err := s.ListNetworks(c)
	ok(t, err)
	if len(list) != 2 || list[0].Name != "exchange-online" || list[0].CIDRs == nil || len(list[0].CIDRs) != 0 {
		t.Fatalf("ListNetworks = %+v", list)
	}
	equal(t, "replaced network", list[1], n2)

	ok(t, s.DeleteNetwork(c, "Office"))
	isErr(t, s.DeleteNetwork(c, "office"), store.ErrNotFound)
	_, err = s.GetNetwork(c, "office")
	isErr(t, err, store.ErrNotFound)
}

func testPolicyVersions(t *testing.T, s store.Store) {
	c := ctx(t)
	_, err := s.LatestPolicyVersion(c)
	isErr(t, err, store.ErrNotFound)
	var added []store.PolicyVersion
	for i, doc := range []string{"rules: []", "rules: [a]", "rules: [a, b]"} {
		p, err := s.AddPolicyVersion(c, store.PolicyVersion{Version: 99, Document: []byte(doc), Author: "admin",
			Comment: "c", CreatedAt: base.Add(time.Duration(i) * time.Minute)})
		ok(t, err)
		if p.Version != int64(i+1) {
			t.Fatalf("version %d assigned %d", i+1, p.Version)
		}
		added = append(added, p)
	}
	got, err := s.GetPolicyVersion(c, 2)
	ok(t, err)
	equal(t, "GetPolicyVersion", got, added[1])
	got, err = s.LatestPolicyVersion(c)
	ok(t, err)
	equal(t, "LatestPolicyVersion", got, added[2])
	list, err := s.ListPolicyVersions(c)
	ok(t, err)
	equal(t, "ListPolicyVersions (newest first)", list, []store.PolicyVersion{added[2], added[1], added[0]})
	_, err = s.GetPolicyVersion(c, 4)
	isErr(t, err, store.ErrNotFound)
}

func testPolicyVersionsConcurrent(t *testing.T, s store.Store) {
	c := ctx(t)
	const workers, each = 10, 5
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for range workers {
		wg.Go(func() {
			for range each {
				p, err := s.AddPolicyVersion(c, store.PolicyVersion{Document: []byte("x")})
				if err != nil {
					errs <- err
					continue
				}
				mu.Lock()
				if seen[p.Version] {
					errs <- errDup(p.Version)
				}
				seen[p.Version] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent AddPolicyVersion: %v", err)
	}
	for v := int64(1); v <= workers*each; v++ {
		if !seen[v] {
			t.Fatalf("version %d never assigned (have %d versions)", v, len(seen))
		}
	}
	list, err := s.ListPolicyVersions(c)
	ok(t, err)
	if len(list) != workers*each {
		t.Fatalf("stored %d versions, want %d", len(list), workers*each)
	}
}

type errDup int64

func (e errDup) Error() string { return "version assigned twice" }
