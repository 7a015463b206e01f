package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/tributary-io/tributary/ingest"
)

// stdin is where passwd reads passwords from; tests replace it.
var stdin io.Reader = os.Stdin

// runPasswd adds, replaces or deletes a user in an MQTT password file
// (mqtt.password_file), as mosquitto_passwd does for Mosquitto. The
// password is read from the terminal without echo, twice, or as the first
// line of standard input when that is not a terminal.
func runPasswd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("passwd", "tributary passwd -f FILE -u USER [--delete]", stderr)
	file := fset.String("f", "", "the password file (created, mode 0600, if missing)")
	user := fset.String("u", "", "the username (or certificate identity) to set or delete")
	del := fset.Bool("delete", false, "delete the user instead of setting a password")
	if err := parseFlags(fset, args); err != nil {
		return finish(stderr, err)
	}
	if *file == "" || *user == "" {
		return finish(stderr, usageError{errors.New("passwd: -f FILE and -u USER are required")})
	}
	return finish(stderr, passwd(*file, *user, *del, stdout, stderr))
}

func passwd(file, user string, del bool, stdout, stderr io.Writer) error {
	content, err := os.ReadFile(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if len(content) > 0 {
		if _, err := ingest.ParsePasswords(file, bytes.NewReader(content)); err != nil {
			return usageError{fmt.Errorf("fix the file first:\n%w", err)}
		}
	}
	var out []byte
	if del {
		var found bool
		if out, found = ingest.DeletePassword(content, user); !found {
			return usageError{fmt.Errorf("passwd: no user %q in %s", user, file)}
		}
	} else {
		pw, err := readPassword(stderr)
		if err != nil {
			return err
		}
		hash, err := ingest.HashPassword(pw)
		if err != nil {
			return err
		}
		if out, err = ingest.SetPassword(content, user, hash); err != nil {
			return usageError{err}
		}
	}
	if err := writeFileAtomic(file, out); err != nil {
		return err
	}
	if del {
		fmt.Fprintf(stdout, "deleted %s from %s\n", user, file)
	} else {
		fmt.Fprintf(stdout, "set the password of %s in %s (argon2id)\n", user, file)
	}
	return nil
}

func readPassword(prompt io.Writer) ([]byte, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(prompt, "Password: ")
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		fmt.Fprint(prompt, "Again: ")
		again, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(prompt)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(pw, again) {
			return nil, usageError{errors.New("passwd: the passwords differ")}
		}
		return checkPassword(pw)
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return checkPassword([]byte(strings.TrimRight(line, "\r\n")))
}

func checkPassword(pw []byte) ([]byte, error) {
	if len(pw) < 8 {
		return nil, usageError{errors.New("passwd: a password needs at least 8 characters")}
	}
	return pw, nil
}

// writeFileAtomic replaces path with data, mode 0600, so that a crash
// leaves the old file or the new one, never half of one.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
