package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/tributary-io/tributary/gateway"
	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/internal/buildinfo"
	"github.com/tributary-io/tributary/internal/tokens"
)

// finish reports err on stderr (unless it is a help request) and returns the
// exit code for it. Config errors are printed one per line, each as
// FILE:LINE: key.path: message, so that editors and grep can jump to them.
func finish(stderr io.Writer, err error) int {
	var cerrs config.Errors
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &cerrs):
		fmt.Fprintln(stderr, cerrs.Error())
		fmt.Fprintf(stderr, "tributary: the config has %d %s\n", len(cerrs), plural(len(cerrs), "error", "errors"))
	case err != nil:
		fmt.Fprintf(stderr, "tributary: %v\n", err)
	}
	return exitCode(err)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "tributary version", stderr)
	if err := parseFlags(fs, args); err != nil {
		return finish(stderr, err)
	}
	fmt.Fprintln(stdout, buildinfo.Get().String())
	return exitOK
}

func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "validate" {
		fmt.Fprintln(stderr, "Usage: tributary config validate -c FILE")
		return exitUsage
	}
	fs := newFlagSet("config validate", "tributary config validate -c FILE", stderr)
	path := fs.String("c", "", "the config file to check (edge or hub)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return finish(stderr, err)
	}
	if *path == "" {
		return finish(stderr, usageError{errors.New("config validate: -c FILE is required")})
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return finish(stderr, usageError{err})
	}
	if f := cfg.HTTP.TokensFile; f != "" { // as the node will read it at startup
		if _, err := tokens.Load(f); err != nil {
			return finish(stderr, usageError{fmt.Errorf("http.tokens_file: %w", err)})
		}
	}
	fmt.Fprintln(stdout, "ok")
	return exitOK
}

// runNode returns the command that runs a node of the given role.
func runNode(role config.Role) func(context.Context, []string, io.Writer, io.Writer) int {
	return func(ctx context.Context, args []string, _, stderr io.Writer) int {
		return finish(stderr, node(ctx, role, args, stderr))
	}
}

func node(ctx context.Context, role config.Role, args []string, stderr io.Writer) error {
	fs := newFlagSet(string(role), fmt.Sprintf("tributary %s -c FILE [flags]", role), stderr)
	path := fs.String("c", "", "the node's config file")
	var lf logFlags
	lf.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return usageError{fmt.Errorf("%s: -c FILE is required (see configs/%s.yaml)", role, role)}
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	cfg, err := config.Load(*path)
	if err != nil {
		return usageError{err}
	}
	if cfg.Role != role {
		return usageError{fmt.Errorf("%s: role is %q; run it with `tributary %s -c %s`", *path, cfg.Role, cfg.Role, *path)}
	}
	n, err := gateway.New(*cfg, log)
	if err != nil {
		return usageError{err}
	}
	return n.Run(ctx)
}
