package report

import (
	"fmt"
	"os"
)

func fmtSscan(s string, v any) (int, error) { return fmt.Sscan(s, v) }
func writeFile(p string, b []byte) error    { return os.WriteFile(p, b, 0o600) }
func readFile(p string) ([]byte, error)     { return os.ReadFile(p) }
