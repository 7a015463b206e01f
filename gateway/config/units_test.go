package config

import (
	"math"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]Size{
		"0":                    0,
		"1":                    1,
		"65536":                65536,
		"64KiB":                64 * KiB,
		"64kib":                64 * KiB,
		"64 KiB":               64 * KiB,
		" 64KIB ":              64 * KiB,
		"64KB":                 64000,
		"10 MB":                10 * MB,
		"2TB":                  2 * TB,
		"16MiB":                16 * MiB,
		"1.5GiB":               3 * GiB / 2,
		".5KiB":                512,
		"1.KiB":                KiB,
		"1.0009765625KiB":      1025,
		"0.333333333333333KiB": 341, // rounded down
		"0.5B":                 0,
		"1.9":                  1,
		"8388607TiB":           8388607 * TiB,
		"9223372036854775807":  math.MaxInt64,
		"00000000000000000001": 1,
	} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	const want = ": want a number of bytes with an optional unit B, KB, MB, GB, TB, KiB, MiB, GiB, TiB (e.g. 64KiB, 2GiB)"
	for in, msg := range map[string]string{
		"":                     `invalid size ""` + want,
		"  ":                   `invalid size "  "` + want,
		"2GB_":                 `invalid size "2GB_"` + want,
		"16M":                  `invalid size "16M"` + want,
		"1e3":                  `invalid size "1e3"` + want,
		"0x10":                 `invalid size "0x10"` + want,
		"KiB":                  `invalid size "KiB"` + want,
		".":                    `invalid size "."` + want,
		"1..5KiB":              `invalid size "1..5KiB"` + want,
		"+5":                   `invalid size "+5"` + want,
		"1 2":                  `invalid size "1 2"` + want,
		"5 EiB":                `invalid size "5 EiB"` + want,
		"-1":                   `invalid size "-1": must not be negative`,
		"-1KiB":                `invalid size "-1KiB": must not be negative`,
		"9223372036854775808":  `invalid size "9223372036854775808": too large; must be below 8388608TiB`,
		"8388608TiB":           `invalid size "8388608TiB": too large; must be below 8388608TiB`,
		"99999999999999999999": `invalid size "99999999999999999999": too large; must be below 8388608TiB`,
	} {
		got, err := ParseSize(in)
		if err == nil || err.Error() != msg {
			t.Errorf("ParseSize(%q) = %d, %v; want error %s", in, got, err, msg)
		}
	}
}

func TestSizeString(t *testing.T) {
	for in, want := range map[Size]string{
		0:               "0B",
		1:               "1B",
		1000:            "1000B",
		1536:            "1536B",
		64 * KiB:        "64KiB",
		1536 * KiB:      "1536KiB",
		16 * MiB:        "16MiB",
		2 * GiB:         "2GiB",
		3 * TiB:         "3TiB",
		1 << 50:         "1024TiB",
		math.MaxInt64:   "9223372036854775807B",
		8388607 * TiB:   "8388607TiB",
		KiB + 1:         "1025B",
		256*MiB + 4*KiB: "262148KiB",
	} {
		if got := in.String(); got != want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(in), got, want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"0":                          0,
		"+0":                         0,
		"0s":                         0,
		"1ns":                        1,
		"1us":                        time.Microsecond,
		"1µs":                        time.Microsecond,
		"1μs":                        time.Microsecond,
		"500ms":                      500 * time.Millisecond,
		"90s":                        90 * time.Second,
		"1.5s":                       1500 * time.Millisecond,
		".5s":                        500 * time.Millisecond,
		"1.s":                        time.Second,
		"1h30m":                      90 * time.Minute,
		"168h":                       168 * time.Hour,
		"7d":                         168 * time.Hour,
		"1d12h":                      36 * time.Hour,
		"1.5d":                       36 * time.Hour,
		" 10s ":                      10 * time.Second,
		"0.0000000009s":              0, // rounded down
		"2562047h47m16.854775807s":   math.MaxInt64,
		"106751d23h47m16.854775807s": math.MaxInt64,
	} {
		got, err := ParseDuration(in)
		if err != nil || got.Std() != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

func TestParseDurationErrors(t *testing.T) {
	const want = ": want a number with a unit ns, us, ms, s, m, h, d (e.g. 30s, 168h, 7d)"
	const tooLarge = ": too large; must be at most 2562047h47m16.854775807s (about 292 years)"
	for in, msg := range map[string]string{
		"":                         `invalid duration ""` + want,
		"30":                       `invalid duration "30"` + want,
		"0.0":                      `invalid duration "0.0"` + want,
		"30sec":                    `invalid duration "30sec"` + want,
		"1D":                       `invalid duration "1D"` + want,
		"d":                        `invalid duration "d"` + want,
		".s":                       `invalid duration ".s"` + want,
		"1d 12h":                   `invalid duration "1d 12h"` + want,
		"1e3s":                     `invalid duration "1e3s"` + want,
		"1h-1m":                    `invalid duration "1h-1m"` + want,
		"-1s":                      `invalid duration "-1s": must not be negative`,
		"-0":                       `invalid duration "-0": must not be negative`,
		"2562047h47m16.854775808s": `invalid duration "2562047h47m16.854775808s"` + tooLarge,
		"100000000000000000000s":   `invalid duration "100000000000000000000s"` + tooLarge,
		"106752d":                  `invalid duration "106752d"` + tooLarge,
		"9223372036854775807ns1ns": `invalid duration "9223372036854775807ns1ns"` + tooLarge,
	} {
		got, err := ParseDuration(in)
		if err == nil || err.Error() != msg {
			t.Errorf("ParseDuration(%q) = %v, %v; want error %s", in, got, err, msg)
		}
	}
}

func TestDurationString(t *testing.T) {
	for in, want := range map[time.Duration]string{
		0:                       "0s",
		time.Nanosecond:         "1ns",
		1500 * time.Microsecond: "1.5ms",
		10 * time.Second:        "10s",
		10 * time.Minute:        "10m0s",
		24 * time.Hour:          "1d",
		168 * time.Hour:         "7d",
		36 * time.Hour:          "36h0m0s",
		-24 * time.Hour:         "-24h0m0s",
		math.MaxInt64:           "2562047h47m16.854775807s",
	} {
		if got := Duration(in).String(); got != want {
			t.Errorf("Duration(%v).String() = %q, want %q", in, got, want)
		}
	}
}

// TestUnitsYAML checks that sizes and durations read from YAML scalars of
// any style and refuse other kinds of node.
func TestUnitsYAML(t *testing.T) {
	var v struct {
		S Size     `yaml:"s"`
		D Duration `yaml:"d"`
	}
	if err := yaml.Unmarshal([]byte("s: 65536\nd: '1d12h'"), &v); err != nil || v.S != 64*KiB || v.D.Std() != 36*time.Hour {
		t.Errorf("got %+v, %v", v, err)
	}
	for src, want := range map[string]string{
		"s: [1]":    "want a size such as 64KiB, got a list",
		"d: {a: 1}": "want a duration such as 30s, got a mapping",
	} {
		if err := yaml.Unmarshal([]byte(src), &v); err == nil || err.Error() != want {
			t.Errorf("%s: got %v, want %s", src, err, want)
		}
	}
}

// FuzzParseSize checks that every size ParseSize accepts is non-negative
// and reads back from its String form unchanged.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "65536", "64KiB", "1.5GiB", "10 mb", "0.5B", ".5tib", "8388607TiB", "-1", "1e3", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseSize(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "invalid size ") {
				t.Fatalf("ParseSize(%q): error %q does not say what is invalid", s, err)
			}
			return
		}
		if v < 0 {
			t.Fatalf("ParseSize(%q) = %d, negative", s, v)
		}
		back, err := ParseSize(v.String())
		if err != nil || back != v {
			t.Fatalf("ParseSize(%q) = %d; its String %q parses to %d, %v", s, v, v.String(), back, err)
		}
	})
}

// FuzzParseDuration checks that every duration ParseDuration accepts is
// non-negative and reads back from its String form unchanged, and that it
// agrees with time.ParseDuration on whole numbers in the units they share.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"0", "500ms", "90s", "1.5s", "168h", "7d", "1d12h", "1µs", "2562047h47m16.854775807s", "-1s", "30"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDuration(s)
		if err == nil && v < 0 {
			t.Fatalf("ParseDuration(%q) = %v, negative", s, v)
		}
		if err == nil {
			back, err := ParseDuration(v.String())
			if err != nil || back != v {
				t.Fatalf("ParseDuration(%q) = %d; its String %q parses to %d, %v", s, v, v.String(), back, err)
			}
		}
		if strings.ContainsAny(s, ".d-") || strings.TrimSpace(s) != s {
			return // time.ParseDuration rounds fractions through float64, knows no d, allows negatives and no spaces
		}
		std, stdErr := time.ParseDuration(s)
		if (err == nil) != (stdErr == nil) || v.Std() != std {
			t.Fatalf("ParseDuration(%q) = %v, %v; time.ParseDuration gives %v, %v", s, v, err, std, stdErr)
		}
	})
}
