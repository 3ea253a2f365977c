package directory

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

// ImportResult says what happened to one CSV row.
type ImportResult struct {
	Line   int
	UPN    string
	Action string // created, skipped, error
	Detail string
}

// Tally counts an import's outcomes: created, skipped (already there) and refused rows.
func Tally(rows []ImportResult) (created, skipped, errs int) {
	for _, r := range rows {
		switch r.Action {
		case "created":
			created++
		case "skipped":
			skipped++
		default:
			errs++
		}
	}
	return created, skipped, errs
}

// ImportCSV creates users from an Entra ID user export (columns userPrincipalName,
// displayName, mail, onPremisesImmutableId; others ignored, header names case-insensitive,
// UTF-8 BOM tolerated). Each row is its own transaction: a bad row is reported and skipped,
// never half-written. Existing users are skipped, not overwritten.
func (d *Directory) ImportCSV(ctx context.Context, r io.Reader, groups []string) ([]ImportResult, error) {
	return d.ImportCSVWith(ctx, r, groups, d.AddUser)
}

// ImportCSVWith is ImportCSV creating each user with add (the admin service passes its own
// AddUser, so that each row is one transaction with its audit entry).
func (d *Directory) ImportCSVWith(ctx context.Context, r io.Reader, groups []string, add func(context.Context, NewUser) (store.User, error)) ([]ImportResult, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read CSV header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[h] = i
	}
	upnCol, ok := col["userprincipalname"]
	if !ok {
		return nil, errors.New("CSV has no userPrincipalName column (expected an Entra ID user export)")
	}
	get := func(rec []string, name string) string {
		if i, ok := col[strings.ToLower(name)]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []ImportResult
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				out = append(out, ImportResult{Line: pe.Line, Action: "error", Detail: pe.Err.Error()})
				continue
			}
			return out, fmt.Errorf("read CSV: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if upnCol >= len(rec) || strings.TrimSpace(rec[upnCol]) == "" {
			out = append(out, ImportResult{Line: line, Action: "error", Detail: "empty userPrincipalName"})
			continue
		}
		nu := NewUser{UPN: rec[upnCol], DisplayName: get(rec, "displayName"), Email: get(rec, "mail"),
			ImmutableID: get(rec, "onPremisesImmutableId"), Groups: groups}
		u, err := add(ctx, nu)
		switch {
		case err == nil:
			out = append(out, ImportResult{Line: line, UPN: u.UPN, Action: "created", Detail: "ImmutableID " + u.ImmutableID})
		case errors.Is(err, store.ErrConflict):
			out = append(out, ImportResult{Line: line, UPN: nu.UPN, Action: "skipped", Detail: err.Error()})
		default:
			out = append(out, ImportResult{Line: line, UPN: nu.UPN, Action: "error", Detail: err.Error()})
		}
	}
	return out, nil
}
