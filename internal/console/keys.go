package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
)

type keyRow struct{ ID, Role, Created, Expires, Fingerprint string }

type keysData struct{ Keys []keyRow }

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, status int, errText string) {
	ks, err := c.Store.ListSigningKeys(r.Context(), "token")
	if err != nil {
		c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
		return
	}
	var d keysData
	for _, k := range ks {
		sum := sha256.Sum256(k.CertDER)
		d.Keys = append(d.Keys, keyRow{k.ID, "key_" + string(k.State), when(k.CreatedAt), when(k.NotAfter), hex.EncodeToString(sum[:8])})
	}
	c.render(w, r, status, "keys", "keys", view{Error: errText, Data: d})
}

func (c *Console) keys(w http.ResponseWriter, r *http.Request) { c.keysPage(w, r, http.StatusOK, "") }

// keyAction rotates (adds the next key, published beside the current one), promotes (next
// becomes current) or retires (drops retired keys); the service refuses what is out of order.
func (c *Console) keyAction(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	ctx, a := r.Context(), c.actor(r)
	var err error
	switch r.PathValue("action") {
	case "rotate":
		_, err = c.Admin.RotateKey(ctx, a)
	case "promote":
		err = c.Admin.PromoteKey(ctx, a)
	case "retire":
		_, err = c.Admin.RetireKeys(ctx, a)
	default:
		c.fail(w, r, http.StatusNotFound, "err_not_found", nil)
		return
	}
	if err != nil {
		c.keysPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	http.Redirect(w, r, "/admin/keys?done=flash_keys", http.StatusSeeOther)
}
