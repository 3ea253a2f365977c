package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/sekisho/sekisho/internal/setup"
	"github.com/sekisho/sekisho/internal/store/sqlite"
)

func init() { extraCommands = append(extraCommands, newBackupCmd) }

// newBackupCmd copies the embedded database while the server runs. The master key is not in
// the copy: keep it (or SEKISHO_MASTER_KEY) safe separately, or the copy's keys cannot open.
func newBackupCmd(g *globals) *cobra.Command {
	return &cobra.Command{Use: "backup FILE", Short: "Copy the embedded SQLite database to FILE while Sekisho runs (PostgreSQL: pg_dump)",
		Args: cobra.ExactArgs(1),
		RunE: g.withInstance(func(cmd *cobra.Command, args []string, in *setup.Instance) error {
			st, ok := in.Store.(*sqlite.Store)
			if !ok {
				return errors.New("this data folder uses PostgreSQL: back it up with pg_dump (docs/deployment.md)")
			}
			target, err := filepath.Abs(args[0])
			if err != nil {
				return err
			}
			if _, err := os.Stat(target); err == nil {
				return fmt.Errorf("%s exists; choose a new file name", target)
			}
			if err := st.Backup(cmd.Context(), target); err != nil {
				return err
			}
			fi, err := os.Stat(target)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "backed up the database to %s (%d bytes); the master key is not in it: keep %s safe as well\n",
				target, fi.Size(), in.Config.MasterKeyFile)
			return nil
		})}
}
