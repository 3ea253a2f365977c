package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// AheadMonths is how many months beyond the current one always have a sign-in partition.
const AheadMonths = 2

var partitionRE = regexp.MustCompile(`^sign_ins_(\d{4})m(\d{2})$`)

func monthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

func partitionName(month time.Time) string {
	return fmt.Sprintf("sign_ins_%04dm%02d", month.Year(), int(month.Month()))
}

// partitions returns the month partitions of the sign-in log by name with their first day.
func (s *Store) partitions(ctx context.Context) (map[string]time.Time, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'sign_ins'::regclass`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list sign-in partitions: %w", err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("postgres: list sign-in partitions: %w", err)
		}
		if m := partitionRE.FindStringSubmatch(name); m != nil {
			y, _ := strconv.Atoi(m[1])
			mo, _ := strconv.Atoi(m[2])
			out[name] = time.Date(y, time.Month(mo), 1, 0, 0, 0, 0, time.UTC)
		}
	}
	return out, rows.Err()
}

// MaintainSignIns creates the sign-in log's partitions for the month of now and the
// AheadMonths after it, once across every node (under an advisory lock). A month whose rows
// already sit in the default partition (a clock far off, an import) cannot get its own
// partition; that is reported, and the rows stay readable where they are.
func (s *Store) MaintainSignIns(ctx context.Context, now time.Time) error {
	have, err := s.partitions(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for i := 0; i <= AheadMonths; i++ {
		m := monthStart(now).AddDate(0, i, 0)
		name := partitionName(m)
		if _, ok := have[name]; ok {
			continue
		}
		err := s.inRawTx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('sign_ins:partitions', 0))`); err != nil {
				return err
			}
			// DDL takes no parameters: the name and the bounds are made here, never input.
			_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+pgx.Identifier{name}.Sanitize()+
				` PARTITION OF sign_ins FOR VALUES FROM ('`+m.Format(time.RFC3339)+`') TO ('`+m.AddDate(0, 1, 0).Format(time.RFC3339)+`')`)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("postgres: create sign-in partition %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// PruneSignIns deletes the records older than before: months that end by then are dropped
// whole (counted first, so the number reported is exact), the rest of the boundary month and
// the default partition are deleted row by row. It also creates the coming months'
// partitions, so the hourly pruner is the only maintenance a deployment needs.
func (s *Store) PruneSignIns(ctx context.Context, before time.Time) (int64, error) {
	have, err := s.partitions(ctx)
	if err != nil {
		return 0, err
	}
	var total int64
	for name, m := range have {
		if m.AddDate(0, 1, 0).After(before) {
			continue
		}
		ident := pgx.Identifier{name}.Sanitize()
		var n int64
		if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+ident).Scan(&n); err != nil {
			return total, fmt.Errorf("postgres: prune sign-ins: count %s: %w", name, err)
		}
		if _, err := s.db.ExecContext(ctx, `DROP TABLE `+ident); err != nil {
			return total, fmt.Errorf("postgres: prune sign-ins: drop %s: %w", name, err)
		}
		total += n
	}
	n, err := s.Store.PruneSignIns(ctx, before)
	total += n
	if err != nil {
		return total, err
	}
	return total, s.MaintainSignIns(ctx, time.Now())
}

// inRawTx runs fn in a transaction of the underlying database (for statements the shared
// SQL layer has no reason to know: partition DDL).
func (s *Store) inRawTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}
