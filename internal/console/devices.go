package console

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/devicecert"
)

type deviceListRow struct {
	UserID, UPN, Name, Platform, Status, Serial, Expires string
	notAfter                                             time.Time
}

type devicesData struct {
	Rows     []deviceListRow
	Status   string
	Statuses []string
	Expiring bool
	Revoked  int
	CRLURL   string
}

// devices lists every device certificate with its owner (issue and revoke are on the user's
// page); expiring = within the CA's renewal window of 30 days.
func (c *Console) devices(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	q := r.URL.Query()
	d := devicesData{Status: q.Get("status"), Expiring: q.Get("expiring") == "1", CRLURL: c.BaseURL + devicecert.CRLPath,
		Statuses: []string{"", "issued", "downloaded", "in-use", "revoked", "replaced", "expired"}}
	devs, err := c.Store.ListDevices(ctx, "")
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	upns := map[string]string{}
	soon := c.Now().Add(30 * 24 * time.Hour)
	for _, dv := range devs {
		if dv.Status == "revoked" {
			d.Revoked++
		}
		if d.Status != "" && dv.Status != d.Status || d.Expiring && (dv.NotAfter.After(soon) || dv.Status == "revoked" || dv.Status == "replaced") {
			continue
		}
		upn, ok := upns[dv.UserID]
		if !ok {
			if u, err := c.Store.GetUser(ctx, dv.UserID); err == nil {
				upn = u.UPN
			}
			upns[dv.UserID] = upn
		}
		d.Rows = append(d.Rows, deviceListRow{dv.UserID, upn, dv.Name, dv.Platform, dv.Status, dv.Serial, when(dv.NotAfter), dv.NotAfter})
	}
	slices.SortFunc(d.Rows, func(a, b deviceListRow) int {
		if c := a.notAfter.Compare(b.notAfter); c != 0 {
			return c
		}
		return strings.Compare(a.UPN, b.UPN)
	})
	c.render(w, r, http.StatusOK, "devices", "devices", view{Data: d})
}
