// Package tokens is the bearer-token file of the ingest API: reading it,
// checking a presented token against it, and making new tokens.
//
// A token is 32 random bytes, written as "trb_" and 43 base64url
// characters. The file keeps only a token's SHA-256, one token a line:
//
//	# NAME      SHA256HEX (64 hex digits)                                         STREAMS
//	meter-gw    5e8a0c3f…                                                        telemetry,alarms
//	historian   0b7d91aa…                                                        *
//
// NAME is 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'; STREAMS is a comma list
// of stream names or "*" for every stream. '#' starts a comment; blank
// lines are skipped. `tributary token new NAME` prints a fresh token and
// its line.
//
// A plain SHA-256 is the right hash here: the tokens are random 256-bit
// values, not passwords, so there is nothing for a slow hash to protect
// against, and a fast one keeps every request cheap. A presented token's
// hash is compared with every entry in constant time.
package tokens

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Prefix starts every token, so that one is recognisable in a log or a
// file where it should not be.
const Prefix = "trb_"

// The errors Check returns; the first two mean the caller is not
// authenticated, the third that it is but may not write to the stream.
var (
	ErrMissing   = errors.New("missing bearer token")
	ErrUnknown   = errors.New("unknown bearer token")
	ErrForbidden = errors.New("token not allowed on this stream")
)

var (
	nameRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
	streamRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,128}$`)
)

// Set is the tokens of one file.
type Set struct {
	entries []entry
}

type entry struct {
	name    string
	hash    [sha256.Size]byte
	all     bool            // STREAMS is "*"
	streams map[string]bool // otherwise
}

// New returns a fresh random token.
func New() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return Prefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Line returns the tokens-file line that lets token in as name, on the
// given streams (none: every stream).
func Line(name, token string, streams []string) (string, error) {
	if !nameRE.MatchString(name) {
		return "", fmt.Errorf("name %q: want 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'", name)
	}
	list := "*"
	if len(streams) > 0 {
		list = strings.Join(streams, ",")
	}
	if _, _, err := parseStreams(list); err != nil {
		return "", err
	}
	h := sha256.Sum256([]byte(token))
	return name + " " + hex.EncodeToString(h[:]) + " " + list, nil
}

// Load reads and parses the tokens file at path.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse reads a tokens file's contents; file names it in errors. Every
// problem is reported, each as "FILE:LINE: message", one a line.
func Parse(file string, data []byte) (*Set, error) {
	var (
		s     Set
		errs  []error
		names = map[string]int{}
		seen  = map[[sha256.Size]byte]int{}
	)
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", file, n, fmt.Sprintf(format, args...)))
		}
		if c := strings.IndexByte(line, '#'); c >= 0 {
			line = line[:c]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			bad("want NAME SHA256HEX STREAMS, got %d fields", len(f))
			continue
		}
		e := entry{name: f[0]}
		if !nameRE.MatchString(e.name) {
			bad("name %q: want 1 to 64 of A-Z, a-z, 0-9, '.', '_', '-'", e.name)
		} else if first, dup := names[e.name]; dup {
			bad("name %q is already used at line %d", e.name, first)
		} else {
			names[e.name] = n
		}
		switch h, err := hex.DecodeString(f[1]); {
		case strings.HasPrefix(f[1], Prefix):
			bad("%s: this is a token, not its SHA-256; remove it from the file and use the line `tributary token new` prints", e.name)
		case err != nil || len(h) != sha256.Size:
			bad("%s: the hash must be 64 hex digits (the SHA-256 of the token)", e.name)
		default:
			copy(e.hash[:], h)
			if first, dup := seen[e.hash]; dup {
				bad("%s: the same token as at line %d", e.name, first)
			}
			seen[e.hash] = n
		}
		var err error
		if e.all, e.streams, err = parseStreams(f[2]); err != nil {
			bad("%s: %v", e.name, err)
		}
		s.entries = append(s.entries, e)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return &s, nil
}

// parseStreams reads "*" or a comma list of stream names.
func parseStreams(list string) (all bool, streams map[string]bool, err error) {
	if list == "*" {
		return true, nil, nil
	}
	streams = map[string]bool{}
	for st := range strings.SplitSeq(list, ",") {
		if !streamRE.MatchString(st) {
			return false, nil, fmt.Errorf("streams: want * or a comma list of stream names (1 to 128 of a-z, A-Z, 0-9, '.', '_', '-'), got %q", list)
		}
		streams[st] = true
	}
	return false, streams, nil
}

// Len is the number of tokens in the set.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.entries)
}

// Check says whether token may write to stream, and returns the token's
// name when it may. An empty token is ErrMissing; one not in the set,
// ErrUnknown (so is every token if s is nil); one not allowed on stream, an
// error wrapping ErrForbidden.
func (s *Set) Check(token, stream string) (name string, err error) {
	if token == "" {
		return "", ErrMissing
	}
	e := s.find(token)
	if e == nil {
		return "", ErrUnknown
	}
	if !e.all && !e.streams[stream] {
		return "", fmt.Errorf("%w: token %q may not write to stream %q", ErrForbidden, e.name, stream)
	}
	return e.name, nil
}

// Token is a known token: its name and the streams its line names.
type Token struct{ e *entry }

// Name is the token's name in the file.
func (t Token) Name() string { return t.e.name }

// Allows reports whether the token's line names stream, or "*".
func (t Token) Allows(stream string) bool { return t.e.all || t.e.streams[stream] }

// Lookup finds a presented token: ErrMissing for an empty one, ErrUnknown
// for one not in the set (every token, if s is nil).
func (s *Set) Lookup(token string) (Token, error) {
	if token == "" {
		return Token{}, ErrMissing
	}
	e := s.find(token)
	if e == nil {
		return Token{}, ErrUnknown
	}
	return Token{e}, nil
}

// FromAuthorization takes the token out of an Authorization value,
// "Bearer TOKEN": ErrMissing for "", an error wrapping ErrUnknown for
// another scheme.
func FromAuthorization(auth string) (string, error) {
	if auth = strings.TrimSpace(auth); auth == "" {
		return "", ErrMissing
	}
	scheme, token, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", fmt.Errorf("%w: want the authorization Bearer TOKEN", ErrUnknown)
	}
	return strings.TrimSpace(token), nil
}

// Name returns the name of a known token, whatever its streams.
func (s *Set) Name(token string) (string, bool) {
	if e := s.find(token); e != nil {
		return e.name, true
	}
	return "", false
}

// find returns token's entry, or nil. Every entry is compared, so that the
// time says nothing of which matched.
func (s *Set) find(token string) *entry {
	if token == "" || s == nil {
		return nil
	}
	h := sha256.Sum256([]byte(token))
	match := -1
	for i := range s.entries {
		if subtle.ConstantTimeCompare(h[:], s.entries[i].hash[:]) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil
	}
	return &s.entries[match]
}
