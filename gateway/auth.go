package gateway

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tributary-io/tributary/internal/tokens"
)

// readAuth decides who may use the read API (StreamService, SiteService),
// over REST and gRPC alike: the REST gateway calls the same methods and
// passes the Authorization header on as call metadata.
//
// Without http.tokens_file reads are open. With it, a call needs a token
// of the file, and reads only the streams the token's line names; any
// known token may list a hub's sites. http.allow_anonymous lets a call
// without a token read everything; one that sends a token still has it
// checked. Health, readiness, metrics and NodeService stay open.
type readAuth struct {
	tokens    *tokens.Set // nil: reads are open
	anonymous bool
}

// caller is who made a read call.
type caller struct {
	all   bool         // may read every stream: reads are open, or anonymous
	token tokens.Token // otherwise
}

// mayRead reports whether the caller may read stream.
func (r caller) mayRead(stream string) bool { return r.all || r.token.Allows(stream) }

// identify says who made the call: UNAUTHENTICATED without a known
// token, unless reads are open or anonymous.
func (a readAuth) identify(ctx context.Context) (caller, error) {
	if a.tokens == nil {
		return caller{all: true}, nil
	}
	var auth string
	if md, _ := metadata.FromIncomingContext(ctx); len(md.Get("authorization")) > 0 {
		auth = md.Get("authorization")[0]
	}
	if auth == "" && a.anonymous {
		return caller{all: true}, nil
	}
	token, err := tokens.FromAuthorization(auth)
	if err == nil {
		var t tokens.Token
		if t, err = a.tokens.Lookup(token); err == nil {
			return caller{token: t}, nil
		}
	}
	if errors.Is(err, tokens.ErrMissing) {
		err = fmt.Errorf("%w: this node's reads need a token (Authorization: Bearer TOKEN)", err)
	}
	return caller{}, status.Error(codes.Unauthenticated, err.Error())
}

// mayRead checks that the call may read stream: PERMISSION_DENIED for a
// token whose line does not name it.
func (a readAuth) mayRead(ctx context.Context, stream string) error {
	r, err := a.identify(ctx)
	if err != nil {
		return err
	}
	if !r.mayRead(stream) {
		return status.Errorf(codes.PermissionDenied, "%v: token %q may not read stream %q", tokens.ErrForbidden, r.token.Name(), stream)
	}
	return nil
}
