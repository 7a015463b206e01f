package ingest

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Users is a set of MQTT users and their password hashes, read from a
// password file: one "username:hash" a line, blank lines and lines starting
// with # ignored. A hash is bcrypt ($2a$, $2b$, $2y$) or argon2id in the PHC
// string format ($argon2id$v=19$m=...,t=...,p=...$salt$hash); a plaintext
// password is refused. `tributary passwd` writes such lines.
//
// Checking a password costs tens of milliseconds of CPU by design, so at most
// one check per CPU runs at a time (a burst of reconnecting sensors queues
// instead of starving the broker), and a password that was checked once is
// remembered, as a salted SHA-256, until it fails or the file changes.
type Users struct {
	hashes map[string]string

	sem   chan struct{}       // bounds concurrent hash checks
	salt  [16]byte            // keys the cache
	mu    sync.Mutex          //
	known map[string][32]byte // username → salted digest of a password that passed
}

// PasswordError is a problem in a password file, with its line.
type PasswordError struct {
	File string
	Line int
	Msg  string
}

func (e *PasswordError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg) }

// LoadPasswordFile reads a password file. Every problem in it is returned,
// each a *PasswordError, joined.
func LoadPasswordFile(path string) (*Users, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("password file: %w", err)
	}
	defer func() { _ = f.Close() }()
	return ParsePasswords(path, f)
}

// ParsePasswords reads a password file's content; name is used in errors.
func ParsePasswords(name string, r io.Reader) (*Users, error) {
	u := newUsers()
	var errs []error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		bad := func(f string, a ...any) { errs = append(errs, &PasswordError{name, n, fmt.Sprintf(f, a...)}) }
		switch {
		case !ok:
			bad("want username:hash")
		case !validUsername(user):
			bad("username %q: want 1 to 256 printable characters, no ':' or space", user)
		case u.hashes[user] != "":
			bad("user %q appears twice", user)
		default:
			if err := checkHash(hash); err != nil {
				bad("user %q: %v", user, err)
				continue
			}
			u.hashes[user] = hash
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("password file %s: %w", name, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return u, nil
}

func newUsers() *Users {
	u := &Users{
		hashes: map[string]string{},
		sem:    make(chan struct{}, runtime.GOMAXPROCS(0)),
		known:  map[string][32]byte{},
	}
	_, _ = rand.Read(u.salt[:])
	return u
}

func validUsername(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == ':' || r == 0x7f {
			return false
		}
	}
	return true
}

// Len is the number of users.
func (u *Users) Len() int { return len(u.hashes) }

// Check reports whether password is user's. An unknown user costs as much
// as a wrong password, so that timing does not tell which users exist.
func (u *Users) Check(user string, password []byte) bool {
	hash, ok := u.hashes[user]
	digest := u.digest(user, hash, password)
	if ok {
		u.mu.Lock()
		prev, seen := u.known[user]
		u.mu.Unlock()
		if seen && subtle.ConstantTimeCompare(prev[:], digest[:]) == 1 {
			return true
		}
	} else {
		hash = dummyHash()
	}
	u.sem <- struct{}{}
	match := verifyHash(hash, password)
	<-u.sem
	if !ok {
		return false
	}
	u.mu.Lock()
	if match {
		u.known[user] = digest
	} else {
		delete(u.known, user)
	}
	u.mu.Unlock()
	return match
}

func (u *Users) digest(user, hash string, password []byte) [32]byte {
	h := sha256.New()
	h.Write(u.salt[:])
	fmt.Fprintf(h, "%d:%s%d:%s", len(user), user, len(hash), hash)
	h.Write(password)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// dummyHash is checked for unknown users: argon2id with the parameters
// HashPassword uses, made on first use (not at start: it costs a hash).
var dummyHash = sync.OnceValue(func() string {
	h, err := HashPassword([]byte("no such user"))
	if err != nil {
		return "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"
	}
	return h
})

// Argon2id parameters of new hashes: OWASP's recommendation for argon2id
// (19 MiB, 2 passes, 1 lane), small enough for an ARM gateway that checks
// a few passwords at once.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// HashPassword returns an argon2id hash of password in the PHC string
// format, for a password file.
func HashPassword(password []byte) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey(password, salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// argonHash is a parsed argon2id PHC string.
type argonHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

func parseArgon2id(s string) (argonHash, error) {
	var h argonHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return h, errors.New("argon2id hash: want $argon2id$v=19$m=M,t=T,p=P$SALT$HASH")
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return h, fmt.Errorf("argon2id hash: version %q, want v=%d", parts[2], argon2.Version)
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &h.memory, &h.time, &threads); err != nil {
		return h, fmt.Errorf("argon2id hash: parameters %q, want m=M,t=T,p=P", parts[3])
	}
	switch {
	case h.memory < 8 || h.memory > 1<<20:
		return h, fmt.Errorf("argon2id hash: memory m=%d KiB out of range 8 to 1048576", h.memory)
	case h.time < 1 || h.time > 32:
		return h, fmt.Errorf("argon2id hash: passes t=%d out of range 1 to 32", h.time)
	case threads < 1 || threads > 64:
		return h, fmt.Errorf("argon2id hash: lanes p=%d out of range 1 to 64", threads)
	}
	h.threads = uint8(threads)
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil || len(h.salt) < 8 {
		return h, errors.New("argon2id hash: salt must be unpadded base64 of at least 8 bytes")
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) < 16 || len(h.key) > 128 {
		return h, errors.New("argon2id hash: hash must be unpadded base64 of 16 to 128 bytes")
	}
	return h, nil
}

// checkHash tells whether s is a hash verifyHash can check.
func checkHash(s string) error {
	switch {
	case strings.HasPrefix(s, "$argon2id$"):
		_, err := parseArgon2id(s)
		return err
	case strings.HasPrefix(s, "$2a$"), strings.HasPrefix(s, "$2b$"), strings.HasPrefix(s, "$2y$"):
		if _, err := bcrypt.Cost([]byte(s)); err != nil {
			return fmt.Errorf("bcrypt hash: %w", err)
		}
		return nil
	case strings.HasPrefix(s, "$7$"), strings.HasPrefix(s, "$6$"):
		return errors.New("a mosquitto_passwd hash (PBKDF2/SHA-512) is not supported; make a new line with `tributary passwd`")
	case strings.HasPrefix(s, "$"):
		return errors.New("unknown hash; want bcrypt ($2b$...) or argon2id ($argon2id$...)")
	}
	return errors.New("not a password hash (plaintext passwords are not accepted); make the line with `tributary passwd`")
}

// verifyHash checks password against a hash checkHash accepted.
func verifyHash(hash string, password []byte) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		h, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey(password, h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(key, h.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), password) == nil
}

// certIdentity is the identity of a verified client certificate: its
// subject common name, else its first DNS name, else its first URI.
func certIdentity(cs tls.ConnectionState) (string, bool) {
	if len(cs.VerifiedChains) == 0 || len(cs.PeerCertificates) == 0 {
		return "", false // no certificate, or one nobody verified
	}
	c := cs.PeerCertificates[0]
	switch {
	case c.Subject.CommonName != "":
		return c.Subject.CommonName, true
	case len(c.DNSNames) > 0:
		return c.DNSNames[0], true
	case len(c.URIs) > 0:
		return c.URIs[0].String(), true
	}
	return "", false
}

// SetPassword returns the password file content with user's line added, or
// replaced if user is there; comments and other lines are kept as they are.
func SetPassword(content []byte, user, hash string) ([]byte, error) {
	if !validUsername(user) {
		return nil, fmt.Errorf("username %q: want 1 to 256 printable characters, no ':' or space", user)
	}
	out, _ := editPasswords(content, user, user+":"+hash)
	return out, nil
}

// DeletePassword returns the content without user's line; found says
// whether there was one.
func DeletePassword(content []byte, user string) (out []byte, found bool) {
	return editPasswords(content, user, "")
}

// editPasswords replaces user's line by line ("": removes it), or adds line
// at the end if user has none.
func editPasswords(content []byte, user, line string) (out []byte, found bool) {
	var buf bytes.Buffer
	done := line == ""
	for l := range bytes.Lines(content) {
		name, _, ok := strings.Cut(strings.TrimSpace(string(l)), ":")
		if ok && name == user {
			found = true
			if !done {
				buf.WriteString(line + "\n")
				done = true
			}
			continue
		}
		buf.Write(l)
		if !bytes.HasSuffix(l, []byte("\n")) {
			buf.WriteByte('\n')
		}
	}
	if !done {
		buf.WriteString(line + "\n")
	}
	return buf.Bytes(), found
}
