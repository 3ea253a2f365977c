package clustertest

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

var metricsLine = regexp.MustCompile(`Metrics on (http://\S+/metrics)`)

// MetricsURL is the node's Prometheus endpoint, as it printed on startup ("" if it printed
// none: the nodes run with SEKISHO_METRICS_LISTEN=127.0.0.1:0).
func (n *Node) MetricsURL() string {
	if m := metricsLine.FindStringSubmatch(n.Log()); m != nil {
		return m[1]
	}
	return ""
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// Metric scrapes the node's /metrics and returns the sum of every sample of the series
// name (one sample for an unlabelled gauge such as go_goroutines).
func (n *Node) Metric(ctx context.Context, name string) (float64, error) {
	u := n.MetricsURL()
	if u == "" {
		return 0, fmt.Errorf("%s printed no metrics address", n.Name)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := metricsClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: GET /metrics = %d", n.Name, resp.StatusCode)
	}
	var sum float64
	found := false
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %w", n.Name, line, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("%s: no %s in /metrics", n.Name, name)
	}
	return sum, nil
}
