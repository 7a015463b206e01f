package cluster

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/tributary-io/tributary/internal/tokens"
)

// credential is who the peer proved to be.
type credential struct {
	site  string // "" when anonymous
	how   string // "certificate", "token", "anonymous"
	token string // the bearer token, to check per stream
}

// authenticate finds the peer's identity: a verified client certificate
// (its common name is the site id), else a bearer token in the
// "authorization" metadata, else anonymous if allowed.
func (s *Server) authenticate(ctx context.Context) (credential, error) {
	if p, ok := peer.FromContext(ctx); ok {
		if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.VerifiedChains) > 0 && len(ti.State.PeerCertificates) > 0 {
			cn := ti.State.PeerCertificates[0].Subject.CommonName
			if cn == "" {
				return credential{}, status.Error(codes.Unauthenticated, "client certificate has no common name (the site id)")
			}
			return credential{site: cn, how: "certificate"}, nil
		}
	}
	var auth string
	if md, ok := metadata.FromIncomingContext(ctx); ok && len(md.Get("authorization")) > 0 {
		auth = md.Get("authorization")[0]
	}
	tok, err := tokens.FromAuthorization(auth)
	switch {
	case errors.Is(err, tokens.ErrMissing):
	case err != nil:
		return credential{}, status.Error(codes.Unauthenticated, err.Error())
	default:
		site, ok := s.opts.Tokens.Name(tok)
		if !ok {
			return credential{}, status.Error(codes.Unauthenticated, "unknown site token")
		}
		return credential{site: site, how: "token", token: tok}, nil
	}
	if s.opts.AllowAnonymous {
		return credential{how: "anonymous"}, nil
	}
	return credential{}, status.Error(codes.Unauthenticated, "a site must present a client certificate or a bearer token")
}

// mayWrite says whether the credential lets its site send edge stream st.
func (c credential) mayWrite(ts *tokens.Set, st string) bool {
	if c.how != "token" {
		return true
	}
	_, err := ts.Check(c.token, st)
	return err == nil
}
