// Package config loads and validates a Tributary node's YAML config file.
//
// # Basics
//
// Load reads a file, Parse reads bytes already in memory. Both start from
// Default(role), for the role the file names, decode the file onto it and
// then run Config.Validate; a key the file leaves out keeps its default.
// Every default is written down once, in defaults.go, and the example files
// in the project's configs directory show them all.
//
// Sizes are written as 65536, 64KiB or 1.5GiB (see ParseSize) and durations
// as 500ms, 90s, 168h or 7d (see ParseDuration).
//
// When anything is wrong, the error is an Errors value holding one FieldError
// per problem, each with the file, line and key path, sorted by line:
//
//	edge.yaml:4: http.listn: unknown key (did you mean "listen"?); allowed here: listen, read_header_timeout, max_header_bytes
//	edge.yaml:7: shutdown_timeout: must be between 1s and 10m0s, got 0s
//
// Use errors.As to reach the individual errors.
//
// # Caveats
//
// The checks are strict. An unknown key is an error, not a warning, and so
// is a duplicate key, a key written with no value (delete it to get the
// default), a second YAML document and a merge key (<<). Anchors and aliases
// work.
//
// Every problem is reported, not just the first, but a value that could not
// be decoded is not also checked against its allowed range: fixing it may
// reveal one more error.
//
// A list in the file replaces the default list; a map in the file adds to
// the default map, each entry starting from zero.
//
// Only package gateway and the commands read this package. Every other
// package takes its own Options struct, filled in by gateway from a Config,
// so that it can be used and tested without a config file.
package config
