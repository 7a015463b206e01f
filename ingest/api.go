package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/internal/promreg"
	"github.com/tributary-io/tributary/internal/tokens"
	"github.com/tributary-io/tributary/spool"
)

// APIOptions configure the HTTP and gRPC ingest API. Zero values take the
// defaults.
type APIOptions struct {
	// Tokens are the bearer tokens let in, each on its streams; nil: none.
	Tokens *tokens.Set
	// AllowAnonymous lets a request without a token write to every stream.
	// A request that sends a token still has it checked.
	AllowAnonymous bool
	// MaxBodyBytes bounds the body of a JSON Append over REST. Default 4MiB.
	MaxBodyBytes int64
	// MaxBulkBytes bounds the body of an NDJSON bulk request. Default 256MiB.
	MaxBulkBytes int64
	// MaxBatchBytes is the spool's: an NDJSON body is committed in chunks of
	// at most this many record bytes (as spool.RecordSize counts them).
	// Default 4MiB.
	MaxBatchBytes int
	// Logger; nil discards. Registerer receives the metrics; nil: none.
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Now is the clock for arrival times; nil is time.Now.
	Now func() time.Time
}

func (o APIOptions) withDefaults() APIOptions {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 4 << 20
	}
	if o.MaxBulkBytes <= 0 {
		o.MaxBulkBytes = 256 << 20
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 4 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// API is tributary.v1.IngestService: Append over gRPC and, through
// grpc-gateway, REST, and the NDJSON bulk endpoint beside it (see
// RecordsHandler). Every answer of success comes after the spool's durable
// commit.
type API struct {
	tributaryv1.UnimplementedIngestServiceServer
	opts APIOptions
	app  Appender
	m    *apiMetrics
}

// NewAPI builds the ingest API on app and registers its metrics with
// opts.Registerer.
func NewAPI(opts APIOptions, app Appender) (*API, error) {
	opts = opts.withDefaults()
	m, err := newAPIMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	return &API{opts: opts, app: app, m: m}, nil
}

// Transports, as the metrics label them.
const (
	viaGRPC   = "grpc"
	viaHTTP   = "http"
	viaNDJSON = "ndjson"
)

// Append stores the request's records in one commit and returns their
// offsets once durable.
func (a *API) Append(ctx context.Context, req *tributaryv1.AppendRequest) (*tributaryv1.AppendResponse, error) {
	if err := a.authorize(bearerFrom(ctx), req.GetStream()); err != nil {
		return nil, apiError(err)
	}
	if len(req.GetRecords()) == 0 {
		return nil, apiError(invalid("records", "must hold at least one record"))
	}
	now := a.opts.Now()
	recs := make([]spool.Record, len(req.GetRecords()))
	for i, r := range req.GetRecords() {
		rec, err := toSpool(r, now)
		if err != nil {
			return nil, apiError(under(fmt.Sprintf("records[%d]", i), err))
		}
		recs[i] = rec
	}
	pos, err := a.append(ctx, req.GetStream(), recs)
	if err != nil {
		return nil, apiError(err)
	}
	via := viaGRPC
	if _, ok := runtime.HTTPPathPattern(ctx); ok {
		via = viaHTTP
	}
	a.m.count(req.GetStream(), via, recs)
	resp := &tributaryv1.AppendResponse{Offsets: make([]*tributaryv1.RecordOffset, len(pos))}
	for i, p := range pos {
		resp.Offsets[i] = &tributaryv1.RecordOffset{Partition: int32(p.Partition), Offset: p.Offset} // at most 1024 partitions: fits
	}
	return resp, nil
}

// append commits recs to stream and waits until they are durable or have
// failed, or ctx ends (after which they may still commit).
func (a *API) append(ctx context.Context, stream string, recs []spool.Record) ([]spool.Position, error) {
	done := make(chan spool.Result, 1)
	if err := a.app.AppendAsync(ctx, stream, recs, func(r spool.Result) { done <- r }); err != nil {
		return nil, err
	}
	select {
	case r := <-done:
		return r.Positions, r.Err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// toSpool turns an API record into a spool record: no key stays nil (the
// spool spreads keyless records), no time is now, headers sorted by name.
func toSpool(r *tributaryv1.Record, now time.Time) (spool.Record, error) {
	rec := spool.Record{Value: r.GetValue(), Time: now}
	if r.GetKey() != "" {
		rec.Key = []byte(r.GetKey())
	}
	if ts := r.GetTime(); ts != nil {
		if err := ts.CheckValid(); err != nil {
			return rec, invalid("time", "%v", err)
		}
		t := ts.AsTime()
		if err := checkTime(t); err != nil {
			return rec, invalid("time", "%v", err)
		}
		rec.Time = t
	}
	names := make([]string, 0, len(r.GetHeaders()))
	for k := range r.GetHeaders() {
		if k == "" {
			return rec, invalid("headers", "a header name must not be empty")
		}
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		rec.Headers = append(rec.Headers, spool.Header{Key: k, Value: []byte(r.GetHeaders()[k])})
	}
	return rec, nil
}

// authorize checks an Authorization value ("Bearer TOKEN", or "" for none)
// for writing to stream.
func (a *API) authorize(auth, stream string) error {
	if auth == "" {
		if a.opts.AllowAnonymous {
			return nil
		}
		return tokens.ErrMissing
	}
	token, err := tokens.FromAuthorization(auth)
	if err != nil {
		return err
	}
	_, err = a.opts.Tokens.Check(token, stream)
	return err
}

// bearerFrom returns the first authorization value of the call's metadata:
// from a gRPC client, or from the HTTP Authorization header, which
// grpc-gateway passes on as it is.
func bearerFrom(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get("authorization"); len(v) > 0 {
		return v[0]
	}
	return ""
}

// codedError is an error with the gRPC code it is answered with; it still
// wraps the cause, so that the REST error handler can tell a full stream
// (503) and a too large request (413) apart from other errors.
type codedError struct {
	code codes.Code
	err  error
}

func (e *codedError) Error() string              { return e.err.Error() }
func (e *codedError) Unwrap() error              { return e.err }
func (e *codedError) GRPCStatus() *status.Status { return status.New(e.code, e.err.Error()) }

// apiError gives err its gRPC code.
func apiError(err error) error {
	return &codedError{code: codeOf(err), err: err}
}

func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, tokens.ErrMissing), errors.Is(err, tokens.ErrUnknown):
		return codes.Unauthenticated
	case errors.Is(err, tokens.ErrForbidden):
		return codes.PermissionDenied
	case errors.Is(err, spool.ErrUnknownStream):
		return codes.NotFound
	case errors.Is(err, spool.ErrFull):
		return codes.ResourceExhausted
	case errors.Is(err, errInvalid), errors.Is(err, spool.ErrInvalid), errors.Is(err, spool.ErrTooLarge), errors.Is(err, errBodyTooLarge):
		return codes.InvalidArgument
	case errors.Is(err, spool.ErrClosed):
		return codes.Unavailable
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	}
	return codes.Internal
}

// apiMetrics live as long as the node that registers them, so they are
// never unregistered.
type apiMetrics struct {
	records *prometheus.CounterVec
	bytes   *prometheus.CounterVec
}

func newAPIMetrics(reg prometheus.Registerer) (*apiMetrics, error) {
	m := &apiMetrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_api_appended_records_total",
			Help: "Records the ingest API stored durably, by stream and transport (grpc, http, ndjson)."}, []string{"stream", "transport"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tributary_api_appended_bytes_total",
			Help: "Bytes of the records the ingest API stored durably (keys, values, headers, as the spool counts them), by stream and transport."},
			[]string{"stream", "transport"}),
	}
	if _, err := promreg.Register(reg, m.records, m.bytes); err != nil {
		return nil, fmt.Errorf("ingest api: register metrics: %w", err)
	}
	return m, nil
}

// count records durable records; stream is a known one, so the label set
// stays bounded.
func (m *apiMetrics) count(stream, via string, recs []spool.Record) {
	n := 0
	for i := range recs {
		n += spool.RecordSize(&recs[i])
	}
	m.records.WithLabelValues(stream, via).Add(float64(len(recs)))
	m.bytes.WithLabelValues(stream, via).Add(float64(n))
}
