package proc

import (
	"bufio"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// FreeAddrs returns n loopback addresses, each with a port free at this
// moment (see FreeAddr).
func FreeAddrs(n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		a, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		out[i] = a
	}
	return out, nil
}

// Scrape reads a Prometheus text exposition from url: every sample by its
// name and labels as written, e.g. `tributary_mqtt_publishes_total{qos="1"}`.
// A sample the exposition lacks is absent from the map (reads 0).
func Scrape(cl *http.Client, url string) (map[string]float64, error) {
	resp, err := cl.Get(url)
	if err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err == nil {
			out[line[:i]] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape metrics: %w", err)
	}
	return out, nil
}
