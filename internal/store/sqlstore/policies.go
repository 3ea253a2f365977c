package sqlstore

import (
	"context"

	"github.com/sekisho/sekisho/internal/store"
)

const policyCols = `version, document, author, comment, created_at`

func scanPolicy(r rowScanner) (store.PolicyVersion, error) {
	var p store.PolicyVersion
	err := r.Scan(&p.Version, bc(&p.Document), &p.Author, &p.Comment, tc(&p.CreatedAt))
	return p, err
}

// AddPolicyVersion stores p as the next version (p.Version is ignored) and returns it as stored.
// The number is chosen inside a write transaction that excludes other adders, so concurrent
// adds get distinct, gap-free versions.
func (s *Store) AddPolicyVersion(ctx context.Context, p store.PolicyVersion) (store.PolicyVersion, error) {
	p.CreatedAt = norm(orNow(p.CreatedAt))
	err := s.withTx(ctx, func(t *Store) error {
		if t.d.LockPolicyVersions != "" {
			if _, err := t.exec(ctx, t.d.LockPolicyVersions); err != nil {
				return t.fail(err, "add policy version: lock")
			}
		}
		if err := t.queryRow(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM policy_versions`).Scan(&p.Version); err != nil {
			return t.fail(err, "add policy version: next number")
		}
		if _, err := t.exec(ctx, `INSERT INTO policy_versions (version, document, author, comment, created_at)
			VALUES (?, ?, ?, ?, ?)`, p.Version, p.Document, p.Author, p.Comment, t.tv(p.CreatedAt)); err != nil {
			return t.fail(err, "add policy version %d", p.Version)
		}
		return nil
	})
	if err != nil {
		return store.PolicyVersion{}, err
	}
	return p, nil
}

func (s *Store) GetPolicyVersion(ctx context.Context, version int64) (store.PolicyVersion, error) {
	p, err := scanPolicy(s.queryRow(ctx, `SELECT `+policyCols+` FROM policy_versions WHERE version = ?`, version))
	if err != nil {
		return p, s.fail(err, "get policy version %d", version)
	}
	return p, nil
}

// LatestPolicyVersion returns the highest version; ErrNotFound when there is none.
func (s *Store) LatestPolicyVersion(ctx context.Context) (store.PolicyVersion, error) {
	p, err := scanPolicy(s.queryRow(ctx, `SELECT `+policyCols+` FROM policy_versions ORDER BY version DESC LIMIT 1`))
	if err != nil {
		return p, s.fail(err, "latest policy version")
	}
	return p, nil
}

// ListPolicyVersions returns every version, newest first.
func (s *Store) ListPolicyVersions(ctx context.Context) ([]store.PolicyVersion, error) {
	return queryAll(ctx, s, "list policy versions", scanPolicy, `SELECT `+policyCols+` FROM policy_versions ORDER BY version DESC`)
}
