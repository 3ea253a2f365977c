package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/sekisho/sekisho/internal/store"
)

// Networks keep their CIDRs as a JSON array: they are always read and written whole.

const networkCols = `name, description, cidrs, updated_at`

func scanNetwork(r rowScanner) (store.Network, error) {
	var n store.Network
	var cidrs string
	if err := r.Scan(&n.Name, &n.Description, &cidrs, tc(&n.UpdatedAt)); err != nil {
		return n, err
	}
	if err := json.Unmarshal([]byte(cidrs), &n.CIDRs); err != nil {
		return n, fmt.Errorf("network %q: decode CIDRs: %w", n.Name, err)
	}
	return n, nil
}

// PutNetwork creates the network or replaces the one with the same name (case-insensitively;
// the stored name takes n.Name's case). UpdatedAt is set to now unless given.
func (s *Store) PutNetwork(ctx context.Context, n store.Network) error {
	if strings.TrimSpace(n.Name) == "" {
		return fmt.Errorf("%s: put network: empty name", s.d.Name)
	}
	if n.CIDRs == nil {
		n.CIDRs = []string{}
	}
	cidrs, err := json.Marshal(n.CIDRs)
	if err != nil {
		return fmt.Errorf("%s: put network %q: %w", s.d.Name, n.Name, err)
	}
	_, err = s.exec(ctx, `INSERT INTO networks (name_lower, name, description, cidrs, updated_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (name_lower) DO UPDATE SET name = excluded.name,
		description = excluded.description, cidrs = excluded.cidrs, updated_at = excluded.updated_at`,
		strings.ToLower(n.Name), n.Name, n.Description, string(cidrs), s.tv(orNow(n.UpdatedAt)))
	if err != nil {
		return s.fail(err, "put network %q", n.Name)
	}
	return nil
}

func (s *Store) GetNetwork(ctx context.Context, name string) (store.Network, error) {
	n, err := scanNetwork(s.queryRow(ctx, `SELECT `+networkCols+` FROM networks WHERE name_lower = ?`, strings.ToLower(name)))
	if err != nil {
		return n, s.fail(err, "get network %q", name)
	}
	return n, nil
}

// ListNetworks returns every network ordered by name, case-insensitively.
func (s *Store) ListNetworks(ctx context.Context) ([]store.Network, error) {
	return queryAll(ctx, s, "list networks", scanNetwork, `SELECT `+networkCols+` FROM networks ORDER BY name_lower`)
}

func (s *Store) DeleteNetwork(ctx context.Context, name string) error {
	res, err := s.exec(ctx, `DELETE FROM networks WHERE name_lower = ?`, strings.ToLower(name))
	return s.mustAffect(res, err, "delete network %q", name)
}
