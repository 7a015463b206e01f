package config

import (
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Size is a number of bytes. In a config file it is written as a plain
// number of bytes or a number with a unit: 65536, 64KiB, 1.5GiB, 10 MB.
type Size int64

// Size units. KB to TB are powers of 1000, KiB to TiB powers of 1024.
const (
	KB  Size = 1000
	MB  Size = 1000 * KB
	GB  Size = 1000 * MB
	TB  Size = 1000 * GB
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

const sizeWant = "want a number of bytes with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 64KiB, 2GiB)"

// sizeUnits maps a lower-cased unit to its number of bytes.
var sizeUnits = map[string]uint64{
	"": 1, "b": 1,
	"kb": uint64(KB), "mb": uint64(MB), "gb": uint64(GB), "tb": uint64(TB),
	"kib": uint64(KiB), "mib": uint64(MiB), "gib": uint64(GiB), "tib": uint64(TiB),
}

// ParseSize parses a size: a non-negative number, optionally with a decimal
// fraction, then optionally spaces and a unit (B, KB, MB, GB, TB, KiB, MiB,
// GiB, TiB; letters in any case). A fraction of a byte is rounded down:
// "1.5KiB" is 1536 bytes and "0.5B" is 0.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid size %q: must not be negative", s)
	}
	whole, frac, rest, ok := scanDecimal(t)
	mult, known := sizeUnits[strings.ToLower(strings.TrimLeft(rest, " \t"))]
	if !ok || !known {
		return 0, fmt.Errorf("invalid size %q: %s", s, sizeWant)
	}
	v, ok := scale(whole, frac, mult)
	if !ok || v > math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q: too large; must be below 8388608TiB", s)
	}
	return Size(v), nil
}

// String returns the size in the largest IEC unit that holds it exactly,
// such as 64KiB, 2GiB or 1536B. ParseSize reads it back to the same value.
func (s Size) String() string {
	for _, u := range []struct {
		size Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}} {
		if s != 0 && s%u.size == 0 {
			return strconv.FormatInt(int64(s/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10) + "B"
}

// UnmarshalYAML reads a size from a YAML scalar.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a size such as 64KiB, got %s", describe(n))
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// MarshalYAML writes the size as String does.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// Duration is a length of time. In a config file it is written in the
// syntax of time.ParseDuration plus a unit d of 24 hours: 500ms, 90s, 168h,
// 7d, 1d12h. A bare 0 needs no unit.
type Duration time.Duration

// Day is the d unit of a Duration: 24 hours, regardless of calendars.
const Day = Duration(24 * time.Hour)

const durationWant = "want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)"

// durationUnits maps a unit to its number of nanoseconds.
var durationUnits = map[string]uint64{
	"ns": uint64(time.Nanosecond),
	"us": uint64(time.Microsecond), "µs": uint64(time.Microsecond), "μs": uint64(time.Microsecond),
	"ms": uint64(time.Millisecond),
	"s":  uint64(time.Second),
	"m":  uint64(time.Minute),
	"h":  uint64(time.Hour),
	"d":  uint64(Day),
}

// ParseDuration parses a duration: one or more numbers, each with an optional
// decimal fraction and a unit (ns, us, µs, ms, s, m, h, d), as in 1d12h or
// 1.5s. A bare 0 is allowed; a negative duration is not. A fraction of a
// nanosecond is rounded down.
func ParseDuration(s string) (Duration, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("invalid duration %q: must not be negative", s)
	}
	t = strings.TrimPrefix(t, "+")
	if t == "0" {
		return 0, nil
	}
	total, err := sumDuration(t)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q: %w", s, err)
	}
	return Duration(total), nil
}

// sumDuration adds up the number-and-unit parts of a duration.
func sumDuration(t string) (uint64, error) {
	if t == "" {
		return 0, fmt.Errorf("%s", durationWant)
	}
	var total uint64
	for t != "" {
		whole, frac, rest, ok := scanDecimal(t)
		unit := rest[:unitLen(rest)]
		mult, known := durationUnits[unit]
		if !ok || !known {
			return 0, fmt.Errorf("%s", durationWant)
		}
		v, ok := scale(whole, frac, mult)
		var carry uint64
		total, carry = bits.Add64(total, v, 0)
		if !ok || carry != 0 || total > math.MaxInt64 {
			return 0, fmt.Errorf("too large; must be at most %v (about 292 years)", time.Duration(math.MaxInt64))
		}
		t = rest[len(unit):]
	}
	return total, nil
}

// unitLen returns the length of the unit at the start of s: everything up to
// the next digit or '.'.
func unitLen(s string) int {
	i := strings.IndexAny(s, "0123456789.")
	if i < 0 {
		return len(s)
	}
	return i
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// String formats d as time.Duration does (10s, 1h30m0s, 1.5ms), except that
// a positive whole number of days is written with the d unit (7d).
// ParseDuration reads it back to the same value.
func (d Duration) String() string {
	if d > 0 && d%Day == 0 {
		return strconv.FormatInt(int64(d/Day), 10) + "d"
	}
	return time.Duration(d).String()
}

// UnmarshalYAML reads a duration from a YAML scalar.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("want a duration such as 30s, got %s", describe(n))
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// MarshalYAML writes the duration as String does.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// scanDecimal splits a leading decimal number off s: its whole digits, its
// fraction digits and the rest of s. ok is false unless there is at least
// one digit.
func scanDecimal(s string) (whole, frac, rest string, ok bool) {
	i := digits(s)
	whole, rest = s[:i], s[i:]
	if strings.HasPrefix(rest, ".") {
		j := 1 + digits(rest[1:])
		frac, rest = rest[1:j], rest[j:]
	}
	return whole, frac, rest, whole != "" || frac != ""
}

// digits returns the number of ASCII digits at the start of s.
func digits(s string) int {
	i := 0
	for i < len(s) && '0' <= s[i] && s[i] <= '9' {
		i++
	}
	return i
}

// scale returns whole.frac × mult rounded down, with ok false on overflow of
// uint64. whole and frac hold only digits; mult is at most 1e15.
func scale(whole, frac string, mult uint64) (v uint64, ok bool) {
	var w uint64
	if whole != "" {
		var err error
		if w, err = strconv.ParseUint(whole, 10, 64); err != nil {
			return 0, false
		}
	}
	hi, lo := bits.Mul64(w, mult)
	sum, carry := bits.Add64(lo, fracTimes(frac, mult), 0)
	return sum, hi == 0 && carry == 0
}

// fracTimes returns 0.frac × mult rounded down, exactly. Working from the
// last digit, floor((d + floor(x))/10) = floor((d + x)/10) keeps every step
// an integer below 10 × mult.
func fracTimes(frac string, mult uint64) uint64 {
	var acc uint64
	for i := len(frac) - 1; i >= 0; i-- {
		acc = (uint64(frac[i]-'0')*mult + acc) / 10
	}
	return acc
}
