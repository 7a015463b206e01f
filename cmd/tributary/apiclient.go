package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// tokenEnv holds a read token when --token-file is not given.
const tokenEnv = "TRIBUTARY_TOKEN"

// apiFlags are how tail, sites and verify reach a protected node's gRPC
// API (grpc.tls, http.tokens_file).
type apiFlags struct {
	tokenFile  string
	tls        bool
	caFile     string
	serverName string
	certFile   string
	keyFile    string
}

func (a *apiFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.tokenFile, "token-file", "", "a file holding the bearer token to read with (default: $"+tokenEnv+", else none)")
	fs.BoolVar(&a.tls, "tls", false, "connect over TLS, verifying the node by the system's CAs (implied by the other --tls-* flags)")
	fs.StringVar(&a.caFile, "tls-ca", "", "verify the node's certificate with these CAs (PEM) instead of the system's")
	fs.StringVar(&a.serverName, "tls-server-name", "", "the name to verify the node's certificate by (default: the host of --addr)")
	fs.StringVar(&a.certFile, "tls-cert", "", "client certificate (PEM), for a node with grpc.tls.client_ca_file")
	fs.StringVar(&a.keyFile, "tls-key", "", "the client certificate's key (PEM)")
}

// dialOptions are the transport and per-call credentials the flags ask
// for; a flag problem is a usage error.
func (a *apiFlags) dialOptions(cmd string) ([]grpc.DialOption, error) {
	bad := func(format string, args ...any) error {
		return usageError{fmt.Errorf(cmd+": "+format, args...)}
	}
	var opts []grpc.DialOption
	if a.tls || a.caFile != "" || a.serverName != "" || a.certFile != "" || a.keyFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: a.serverName}
		if a.caFile != "" {
			pem, err := os.ReadFile(a.caFile)
			if err != nil {
				return nil, bad("--tls-ca: %v", err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, bad("--tls-ca %s: no PEM certificate in it", a.caFile)
			}
		}
		if (a.certFile == "") != (a.keyFile == "") {
			return nil, bad("--tls-cert and --tls-key go together")
		}
		if a.certFile != "" {
			cert, err := tls.LoadX509KeyPair(a.certFile, a.keyFile)
			if err != nil {
				return nil, bad("--tls-cert, --tls-key: %v", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	token, err := a.token()
	if err != nil {
		return nil, bad("%v", err)
	}
	if token != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(token)))
	}
	return opts, nil
}

// token is the token of --token-file (its first line that is neither
// empty nor a # comment), else $TRIBUTARY_TOKEN, else "".
func (a *apiFlags) token() (string, error) {
	if a.tokenFile == "" {
		return strings.TrimSpace(os.Getenv(tokenEnv)), nil
	}
	b, err := os.ReadFile(a.tokenFile)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
			return t, nil
		}
	}
	return "", errors.New("--token-file " + a.tokenFile + ": holds no token")
}

// bearer sends a token with every call. It goes over plaintext too, for a
// node on loopback; over a network, use TLS.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }
