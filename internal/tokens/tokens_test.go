package tokens

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNewLineParseCheck(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := New()
	if a == b || !strings.HasPrefix(a, Prefix) || len(a) != len(Prefix)+43 {
		t.Fatalf("tokens %q and %q: want two different trb_ + 43 characters", a, b)
	}
	lineA, err := Line("meter-gw", a, []string{"telemetry", "alarms"})
	if err != nil {
		t.Fatal(err)
	}
	lineB, err := Line("historian", b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(lineA, a) || !strings.HasSuffix(lineB, " *") {
		t.Fatalf("lines %q, %q: want the hash, never the token, and * for no streams", lineA, lineB)
	}
	path := filepath.Join(t.TempDir(), "tokens")
	file := "# ingest tokens\n\n" + lineA + "  # the meter gateway\n" + lineB + "\n"
	if err := os.WriteFile(path, []byte(file), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	for _, tc := range []struct {
		token, stream, name string
		err                 error
	}{
		{a, "telemetry", "meter-gw", nil},
		{a, "alarms", "meter-gw", nil},
		{a, "vibration", "", ErrForbidden},
		{b, "anything", "historian", nil},
		{"", "telemetry", "", ErrMissing},
		{a + "x", "telemetry", "", ErrUnknown},
	} {
		name, err := s.Check(tc.token, tc.stream)
		if name != tc.name || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
			t.Errorf("Check(%.8q…, %q) = %q, %v; want %q, %v", tc.token, tc.stream, name, err, tc.name, tc.err)
		}
	}
	var none *Set
	if _, err := none.Check(a, "telemetry"); !errors.Is(err, ErrUnknown) {
		t.Errorf("nil set: Check = %v, want ErrUnknown", err)
	}
}

func TestParseErrors(t *testing.T) {
	tok, _ := New()
	good, _ := Line("a", tok, nil)
	hash := strings.Fields(good)[1]
	file := strings.Join([]string{
		good,
		"b " + hash + " telemetry",                   // 2: the same hash
		"a " + strings.Repeat("0", 64) + " *",        // 3: the same name
		"c " + tok + " *",                            // 4: the token itself
		"d abc *",                                    // 5: short hash
		"e " + strings.Repeat("1", 64) + " a,,b",     // 6: empty stream
		"f " + strings.Repeat("2", 64),               // 7: two fields
		"bad/name " + strings.Repeat("3", 64) + " *", // 8
	}, "\n")
	_, err := Parse("tokens.txt", []byte(file))
	want := `tokens.txt:2: b: the same token as at line 1
tokens.txt:3: name "a" is already used at line 1
tokens.txt:4: c: this is a token, not its SHA-256; remove it from the file and use the line ` + "`tributary token new`" + ` prints
tokens.txt:5: d: the hash must be 64 hex digits (the SHA-256 of the token)
tokens.txt:6: e: streams: want * or a comma list of stream names (1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'), got "a,,b"
tokens.txt:7: want NAME SHA256HEX STREAMS, got 2 fields
tokens.txt:8: name "bad/name": want 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'`
	if err == nil || err.Error() != want {
		t.Fatalf("got\n%v\nwant\n%s", err, want)
	}
	if _, err := Line("x y", tok, nil); err == nil {
		t.Error("Line accepted a name with a space")
	}
	if _, err := Line("x", tok, []string{"a b"}); err == nil {
		t.Error("Line accepted a stream with a space")
	}
}

func TestLookupAndFromAuthorization(t *testing.T) {
	tok, _ := New()
	line, err := Line("dashboard", tok, []string{"telemetry"})
	if err != nil {
		t.Fatal(err)
	}
	s, err := Parse("tokens", []byte(line+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Lookup(tok)
	if err != nil || got.Name() != "dashboard" || !got.Allows("telemetry") || got.Allows("alarms") {
		t.Fatalf("Lookup = %v, %v; want dashboard on telemetry only", got, err)
	}
	if _, err := s.Lookup(""); !errors.Is(err, ErrMissing) {
		t.Errorf("Lookup(\"\") = %v, want ErrMissing", err)
	}
	if _, err := s.Lookup("trb_other"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Lookup(other) = %v, want ErrUnknown", err)
	}
	if _, err := (*Set)(nil).Lookup(tok); !errors.Is(err, ErrUnknown) {
		t.Errorf("nil set: %v, want ErrUnknown", err)
	}
	for auth, want := range map[string]string{"Bearer " + tok: tok, "bearer  " + tok + " ": tok} {
		if got, err := FromAuthorization(auth); got != want || err != nil {
			t.Errorf("FromAuthorization(%q) = %q, %v", auth, got, err)
		}
	}
	if _, err := FromAuthorization(" "); !errors.Is(err, ErrMissing) {
		t.Errorf("empty: %v, want ErrMissing", err)
	}
	if _, err := FromAuthorization("Basic dXNlcjpwdw=="); !errors.Is(err, ErrUnknown) {
		t.Errorf("Basic: %v, want ErrUnknown", err)
	}
}
