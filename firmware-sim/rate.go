package firmwaresim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Rate is how many messages a device sends per period: 1/s, 10/s, 2/m,
// 1/15m.
type Rate struct {
	N   int
	Per time.Duration
}

// Interval is the time between two messages; zero for the zero Rate.
func (r Rate) Interval() time.Duration {
	if r.N <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.N)
}

func (r Rate) String() string {
	if r.N <= 0 {
		return "default"
	}
	per := strings.TrimSuffix(strings.TrimSuffix(r.Per.String(), "0s"), "0m")
	switch r.Per {
	case time.Second:
		per = "s"
	case time.Minute:
		per = "m"
	case time.Hour:
		per = "h"
	}
	return fmt.Sprintf("%d/%s", r.N, per)
}

// ParseRate reads N/PERIOD, where PERIOD is s, m, h or a duration such as
// 15m or 500ms: "1/s", "10/s", "2/m", "1/15m". The interval it gives must
// lie between 1ms and 24h.
func ParseRate(s string) (Rate, error) {
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("rate %q: want N/PERIOD, e.g. 1/s, 10/s, 2/m, 1/15m", s)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return Rate{}, fmt.Errorf("rate %q: %q is not a positive whole number", s, n)
	}
	if per == "s" || per == "m" || per == "h" {
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return Rate{}, fmt.Errorf("rate %q: period %q: want s, m, h or a duration such as 15m", s, per)
	}
	r := Rate{N: count, Per: d}
	if iv := r.Interval(); iv < time.Millisecond || iv > 24*time.Hour {
		return Rate{}, fmt.Errorf("rate %q: one message every %v; want between 1ms and 24h", s, iv)
	}
	return r, nil
}
