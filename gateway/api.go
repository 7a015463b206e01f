package gateway

import (
	"context"
	"fmt"

	"github.com/tributary-io/tributary/gateway/config"
	"github.com/tributary-io/tributary/ingest"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// newIngestAPI builds an edge node's HTTP/gRPC ingest API, reading the
// tokens file. A hub takes no records from clients: it returns nil, and the
// node registers no IngestService (gRPC answers UNIMPLEMENTED, REST 404).
func (n *Node) newIngestAPI() (*ingest.API, error) {
	if n.cfg.Role != config.RoleEdge {
		return nil, nil
	}
	h := n.cfg.HTTP
	var set *tokens.Set
	if h.TokensFile != "" {
		var err error
		if set, err = tokens.Load(h.TokensFile); err != nil {
			return nil, fmt.Errorf("http.tokens_file: %w", err)
		}
	}
	return ingest.NewAPI(ingest.APIOptions{
		Tokens:         set,
		AllowAnonymous: h.AllowAnonymous,
		MaxBodyBytes:   int64(h.MaxBodyBytes),
		MaxBulkBytes:   int64(h.MaxBulkBytes),
		MaxBatchBytes:  int(n.cfg.Spool.MaxBatchBytes),
		Logger:         n.log.With("component", "api"),
		Registerer:     n.reg,
	}, spoolAppender{n})
}

// spoolAppender appends to the node's spool, which Start opens after the
// API is built; before that, and once it is gone, it refuses.
type spoolAppender struct{ n *Node }

func (a spoolAppender) AppendAsync(ctx context.Context, stream string, recs []spool.Record, done func(spool.Result)) error {
	a.n.lnMu.Lock()
	sp := a.n.spool
	a.n.lnMu.Unlock()
	if sp == nil {
		return spool.ErrClosed
	}
	return sp.AppendAsync(ctx, stream, recs, done)
}
