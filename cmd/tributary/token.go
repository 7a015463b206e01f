package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/tributary-io/tributary/internal/tokens"
)

// runToken makes API tokens (ingest and reads): `tributary token new NAME [--streams a,b]`
// prints a fresh random token and the line that lets it in, for
// http.tokens_file. Only the line's hash is kept; the token is shown once.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	const usageText = "Usage: tributary token new NAME [--streams a,b]"
	if len(args) == 0 || args[0] != "new" {
		fmt.Fprintln(stderr, usageText)
		return exitUsage
	}
	args = args[1:]
	fs := newFlagSet("token new", "tributary token new NAME [--streams a,b]", stderr)
	streams := fs.String("streams", "*", "the streams the token may write to and read: a comma list, or * for all")
	var name string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") { // NAME before the flags, or after them
		name, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = usageError{err}
		}
		return finish(stderr, err)
	}
	rest := fs.Args()
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if name == "" || len(rest) > 0 {
		return finish(stderr, usageError{errors.New("token new: want exactly one NAME; " + usageText)})
	}
	var list []string
	if *streams != "*" {
		list = strings.Split(*streams, ",")
	}
	token, err := tokens.New()
	if err != nil {
		return finish(stderr, err)
	}
	line, err := tokens.Line(name, token, list)
	if err != nil {
		return finish(stderr, usageError{fmt.Errorf("token new: %w", err)})
	}
	fmt.Fprintf(stdout, "# The token, for the client (Authorization: Bearer TOKEN). It is not stored: keep it now.\n%s\n", token)
	fmt.Fprintf(stdout, "# The line to add to the node's http.tokens_file (then restart the node):\n%s\n", line)
	return exitOK
}
