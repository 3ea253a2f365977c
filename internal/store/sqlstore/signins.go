package sqlstore

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/sekisho/sekisho/internal/store"
)

// Sign-in events are an audit log: no foreign keys (they outlive users and applications), an
// insertion sequence to order events within one microsecond, and username_lower for
// case-insensitive search.

const signInCols = `id, occurred_at, user_id, username, application, protocol, client_type, legacy_app, effective_ip,
	peer_ip, forwarded_ip, forwarded_trusted, forged_headers, user_agent, device_serial, device_name, mfa,
	decision, rule, reason, trace, policy_version, latency_micros`

func scanSignIn(r rowScanner) (store.SignInEvent, error) {
	var e store.SignInEvent
	err := r.Scan(&e.ID, tc(&e.Time), &e.UserID, &e.Username, &e.Application, &e.Protocol, &e.ClientType,
		&e.LegacyApp, &e.EffectiveIP, &e.PeerIP, &e.ForwardedIP, &e.ForwardedTrusted, &e.ForgedHeaders,
		&e.UserAgent, &e.DeviceSerial, &e.DeviceName, &e.MFA, &e.Decision, &e.Rule, &e.Reason, bc(&e.Trace),
		&e.PolicyVersion, &e.LatencyMicros)
	return e, err
}

const insertSignIn = `INSERT INTO sign_ins (id, occurred_at, user_id, username, username_lower, application, protocol,
		client_type, legacy_app, effective_ip, peer_ip, forwarded_ip, forwarded_trusted, forged_headers, user_agent,
		device_serial, device_name, mfa, decision, rule, reason, trace, policy_version, latency_micros)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

func (s *Store) signInArgs(e store.SignInEvent) []any {
	return []any{e.ID, s.tv(orNow(e.Time)), e.UserID, e.Username, strings.ToLower(e.Username), e.Application, e.Protocol,
		e.ClientType, e.LegacyApp, e.EffectiveIP, e.PeerIP, e.ForwardedIP, e.ForwardedTrusted, e.ForgedHeaders,
		e.UserAgent, e.DeviceSerial, e.DeviceName, e.MFA, e.Decision, e.Rule, e.Reason, e.Trace, e.PolicyVersion,
		e.LatencyMicros}
}

// AddSignIn appends e; a zero Time is set to now.
func (s *Store) AddSignIn(ctx context.Context, e store.SignInEvent) error {
	if err := requireID("sign-in", e.ID); err != nil {
		return fmt.Errorf("%s: add sign-in: %w", s.d.Name, err)
	}
	if _, err := s.execPrepared(ctx, insertSignIn, s.signInArgs(e)...); err != nil {
		return s.fail(err, "add sign-in %q", e.ID)
	}
	return nil
}

// AddSignIns appends es in one transaction: the commit, the costly part of a small write, is
// paid once for the batch.
func (s *Store) AddSignIns(ctx context.Context, es []store.SignInEvent) error {
	for _, e := range es {
		if err := requireID("sign-in", e.ID); err != nil {
			return fmt.Errorf("%s: add sign-ins: %w", s.d.Name, err)
		}
	}
	return s.withTx(ctx, func(tx *Store) error {
		for _, e := range es {
			if _, err := tx.execPrepared(ctx, insertSignIn, tx.signInArgs(e)...); err != nil {
				return tx.fail(err, "add sign-in %q", e.ID)
			}
		}
		return nil
	})
}

func (s *Store) GetSignIn(ctx context.Context, id string) (store.SignInEvent, error) {
	e, err := scanSignIn(s.queryRow(ctx, `SELECT `+signInCols+` FROM sign_ins WHERE id = ?`, id))
	if err != nil {
		return e, s.fail(err, "get sign-in %q", id)
	}
	return e, nil
}

// signInQuery builds the SELECT for f, oldest first.
func (s *Store) signInQuery(f store.SignInFilter) (string, []any) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where, args = append(where, cond), append(args, a...) }
	if !f.Since.IsZero() {
		add(`occurred_at >= ?`, s.tv(f.Since))
	}
	if !f.Until.IsZero() {
		add(`occurred_at < ?`, s.tv(f.Until))
	}
	if f.Username != "" {
		add(`username_lower = ?`, strings.ToLower(f.Username))
	}
	if f.Application != "" {
		add(`application = ?`, f.Application)
	}
	if f.ClientType != "" {
		add(`client_type = ?`, f.ClientType)
	}
	if f.Decision != "" {
		add(`decision = ?`, f.Decision)
	}
	if f.IP != "" {
		ip := f.IP
		// Addresses are stored normalised (IPv4-mapped IPv6 as IPv4); match the filter the same way.
		if a, err := netip.ParseAddr(ip); err == nil {
			ip = a.Unmap().String()
		}
		// The same as effective_ip = ip OR peer_ip = ip OR forwarded_ip = ip for a non-empty ip:
		// a peer or forwarded address equal to the effective one is found by the first term.
		// Written so because SQLite indexes peer_ip and forwarded_ip only where they differ from
		// effective_ip (a partial index is used when the query names its condition).
		add(`(effective_ip = ? OR (peer_ip = ? AND peer_ip <> effective_ip) OR
			(forwarded_ip = ? AND forwarded_ip <> '' AND forwarded_ip <> effective_ip))`, ip, ip, ip)
	}
	q := `SELECT ` + signInCols + ` FROM sign_ins`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY occurred_at, seq`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return q, args
}

// ListSignIns returns the events matching f, oldest first.
func (s *Store) ListSignIns(ctx context.Context, f store.SignInFilter) ([]store.SignInEvent, error) {
	var out []store.SignInEvent
	err := s.EachSignIn(ctx, f, func(e store.SignInEvent) error {
		out = append(out, e)
		return nil
	})
	return out, err
}

// EachSignIn streams the events matching f, oldest first, one row at a time; an error from fn
// stops the walk and is returned. Inside InTx, fn must not use the store (the connection is
// busy reading).
func (s *Store) EachSignIn(ctx context.Context, f store.SignInFilter, fn func(store.SignInEvent) error) error {
	q, args := s.signInQuery(f)
	rows, err := s.query(ctx, q, args...)
	if err != nil {
		return s.fail(err, "list sign-ins")
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanSignIn(rows)
		if err != nil {
			return s.fail(err, "list sign-ins")
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return s.fail(err, "list sign-ins")
	}
	return nil
}

// PruneSignIns deletes events older than before and reports how many.
func (s *Store) PruneSignIns(ctx context.Context, before time.Time) (int64, error) {
	return s.deleteCount(ctx, `DELETE FROM sign_ins WHERE occurred_at < ?`, s.tv(before), "prune sign-ins")
}

// UseOnce records key until expires. One statement decides: the insert succeeds for a new key,
// the conflict branch updates only an expired row, and a live row leaves nothing affected.
func (s *Store) UseOnce(ctx context.Context, key string, expires time.Time) (bool, error) {
	if key == "" {
		return false, fmt.Errorf("%s: use once: empty key", s.d.Name)
	}
	if expires.IsZero() {
		return false, fmt.Errorf("%s: use once: no expiry", s.d.Name)
	}
	res, err := s.exec(ctx, `INSERT INTO once_keys (k, expires_at) VALUES (?, ?)
		ON CONFLICT (k) DO UPDATE SET expires_at = excluded.expires_at WHERE once_keys.expires_at <= ?`,
		key, s.tv(expires), s.tv(time.Now()))
	if err != nil {
		return false, s.fail(err, "use once")
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, s.fail(err, "use once")
	}
	return n > 0, nil
}
