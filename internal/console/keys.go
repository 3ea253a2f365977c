package console

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"

	"github.com/sekisho/sekisho/internal/keys"
)

type keyRow struct{ ID, Alg, Role, Created, Expires, Fingerprint string }

type keysData struct {
	Keys []keyRow
	Algs []string // the token keys the actions can act on, one row of buttons each
}

func (c *Console) keysPage(w http.ResponseWriter, r *http.Request, status int, errText string) {
	var d keysData
	for _, purpose := range keys.TokenPurposes {
		ks, err := c.Store.ListSigningKeys(r.Context(), purpose)
		if err != nil {
			c.fail(w, r, http.StatusInternalServerError, "err_internal", err)
			return
		}
		alg := keys.AlgOf(purpose)
		d.Algs = append(d.Algs, alg)
		for _, k := range ks {
			sum := sha256.Sum256(k.CertDER)
			d.Keys = append(d.Keys, keyRow{k.ID, alg, "key_" + string(k.State), when(k.CreatedAt), when(k.NotAfter), hex.EncodeToString(sum[:8])})
		}
	}
	c.render(w, r, status, "keys", "keys", view{Error: errText, Data: d})
}

func (c *Console) keys(w http.ResponseWriter, r *http.Request) { c.keysPage(w, r, http.StatusOK, "") }

// keyAction rotates (adds the next key, published beside the current one), promotes (next
// becomes current) or retires (drops retired keys) the token key of the form's alg (RS256 or
// ES256); the service refuses what is out of order.
func (c *Console) keyAction(w http.ResponseWriter, r *http.Request) {
	if !c.form(w, r) {
		return
	}
	ctx, a := r.Context(), c.actor(r)
	purpose, err := keys.PurposeOf(r.PostFormValue("alg"))
	if err != nil {
		c.keysPage(w, r, http.StatusBadRequest, err.Error())
		return
	}
	switch r.PathValue("action") {
	case "rotate":
		_, err = c.Admin.RotateKeyOf(ctx, a, purpose)
	case "promote":
		err = c.Admin.PromoteKeyOf(ctx, a, purpose)
	case "retire":
		_, err = c.Admin.RetireKeysOf(ctx, a, purpose)
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
