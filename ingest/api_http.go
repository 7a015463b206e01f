package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	tributaryv1 "github.com/tributary-io/tributary/api/tributary/v1"
	"github.com/tributary-io/tributary/spool"
)

// RecordsPattern is the http.ServeMux pattern to serve RecordsHandler at;
// the handler reads the stream from its {stream}.
const RecordsPattern = "POST /v1/streams/{stream}/records"

// NDJSONType is the content type of the bulk endpoint: one JSON record
// object a line.
const NDJSONType = "application/x-ndjson"

// errBodyTooLarge is a REST body over its limit: HTTP 413.
var errBodyTooLarge = errors.New("request body too large")

// restMarshaler is grpc-gateway's JSON marshaler (runtime.JSONPb, set as
// grpc-gateway sets its default) except for one message: an AppendRequest
// body is decoded by decodeAppendJSON, which keeps a JSON object value
// verbatim (see api_json.go). Serve it for application/json and for the
// wildcard, so that `curl -d` (form-urlencoded) works too.
type restMarshaler struct{ runtime.JSONPb }

// NewRESTMarshaler returns the marshaler the REST gateway should use for
// JSON and for every content type it has no other marshaler for.
func NewRESTMarshaler() runtime.Marshaler {
	return &restMarshaler{runtime.JSONPb{
		MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: true},
		UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: true},
	}}
}

var restJSON = NewRESTMarshaler()

func (m *restMarshaler) Unmarshal(data []byte, v any) error {
	if req, ok := v.(*tributaryv1.AppendRequest); ok {
		return decodeAppendJSON(data, req)
	}
	return m.JSONPb.Unmarshal(data, v)
}

func (m *restMarshaler) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		req, ok := v.(*tributaryv1.AppendRequest)
		if !ok {
			return m.JSONPb.NewDecoder(r).Decode(v)
		}
		data, err := io.ReadAll(r) // bounded: RecordsHandler limits the body
		if err != nil {
			return err
		}
		return decodeAppendJSON(data, req)
	})
}

// bodyState is a request body's limit, and whether the client went past it.
// grpc-gateway turns every error of decoding into INVALID_ARGUMENT, so
// HTTPErrorHandler looks here to answer 413 instead.
type bodyState struct {
	limit int64
	bulk  bool
	over  bool
}

type bodyKey struct{}

func (st *bodyState) tooLarge() error {
	if st.bulk {
		return fmt.Errorf("%w: over http.max_bulk_bytes (%d bytes); split it into several requests", errBodyTooLarge, st.limit)
	}
	return fmt.Errorf("%w: over http.max_body_bytes (%d bytes); send fewer records a request, or use the bulk endpoint (Content-Type: %s)",
		errBodyTooLarge, st.limit, NDJSONType)
}

// limitedBody is an http.MaxBytesReader that notes when the limit is hit.
type limitedBody struct {
	io.ReadCloser
	st *bodyState
}

func (b *limitedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		b.st.over = true
		err = b.st.tooLarge()
	}
	return n, err
}

// RecordsHandler serves RecordsPattern: it checks the bearer token before
// reading the body, limits the body, and then passes a JSON request to rest
// (the grpc-gateway mux, which calls Append) or streams an NDJSON one
// (Content-Type: application/x-ndjson) into the spool itself.
func (a *API) RecordsHandler(rest http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stream := r.PathValue("stream")
		st := &bodyState{limit: a.opts.MaxBodyBytes}
		if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == NDJSONType {
			st.bulk, st.limit = true, a.opts.MaxBulkBytes
		}
		fail := func(err error) {
			if st.bulk {
				writeBulk(w, 0, 0, err)
			} else {
				writeError(w, restJSON, apiError(err))
			}
		}
		if err := a.authorize(r.Header.Get("Authorization"), stream); err != nil {
			fail(err)
			return
		}
		if r.ContentLength > st.limit {
			fail(st.tooLarge())
			return
		}
		r.Body = &limitedBody{ReadCloser: http.MaxBytesReader(w, r.Body, st.limit), st: st}
		if st.bulk {
			stored, line, err := a.bulk(r.Context(), stream, r.Body)
			writeBulk(w, stored, line, err)
			return
		}
		rest.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), bodyKey{}, st)))
	})
}

// bulk appends the NDJSON records of body to stream in chunks of at most
// MaxBatchBytes, each committed before the next is read. It returns how many
// records are durable and, with an error, the line it is about: the
// records of every line before it are stored, none from it on. Blank lines
// are skipped.
func (a *API) bulk(ctx context.Context, stream string, body io.Reader) (stored, line int, err error) {
	br := bufio.NewReaderSize(body, 64<<10)
	maxLine := 2 * a.opts.MaxBatchBytes
	var (
		chunk []spool.Record // a new slice each time: a commit cut short by ctx may still read the last one
		size  int
		first int // the line of chunk[0]
		buf   []byte
	)
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		if _, err := a.append(ctx, stream, chunk); err != nil {
			return err
		}
		a.m.count(stream, viaNDJSON, chunk)
		stored += len(chunk)
		chunk, size = nil, 0
		return nil
	}
	for n := 1; ; n++ {
		var rerr error
		buf, rerr = readLine(br, buf[:0], maxLine)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			if err := flush(); err != nil {
				return stored, first, err
			}
			return stored, n, rerr
		}
		if len(bytes.TrimSpace(buf)) > 0 {
			rec, err := parseLine(buf, a.opts.Now())
			if err != nil {
				if ferr := flush(); ferr != nil {
					return stored, first, ferr
				}
				return stored, n, err
			}
			sz := spool.RecordSize(&rec)
			if len(chunk) > 0 && size+sz > a.opts.MaxBatchBytes {
				if err := flush(); err != nil {
					return stored, first, err
				}
			}
			if len(chunk) == 0 {
				first = n
			}
			chunk = append(chunk, rec)
			size += sz
		}
		if rerr != nil { // io.EOF
			break
		}
	}
	if err := flush(); err != nil {
		return stored, first, err
	}
	if stored == 0 {
		return 0, 1, invalid("body", "no records; want one JSON record object a line")
	}
	return stored, 0, nil
}

// parseLine reads one NDJSON line: a record object, as in the JSON
// endpoint's records list.
func parseLine(line []byte, now time.Time) (spool.Record, error) {
	r, err := decodeRecordJSON(line)
	if err != nil {
		return spool.Record{}, err
	}
	return toSpool(r, now)
}

// readLine appends the next line of br to buf, with its newline, and
// returns it; io.EOF comes with the last line when it has no newline (or
// with nothing). A line longer than max is refused without reading it all.
func readLine(br *bufio.Reader, buf []byte, max int) ([]byte, error) {
	for {
		frag, err := br.ReadSlice('\n')
		if len(buf)+len(frag) > max {
			return buf, fmt.Errorf("%w: the line is longer than %d bytes; one record must fit in spool.max_batch_bytes", spool.ErrTooLarge, max)
		}
		buf = append(buf, frag...)
		if !errors.Is(err, bufio.ErrBufferFull) {
			return buf, err
		}
	}
}

// bulkResponse is the answer of the bulk endpoint. Stored records are
// those of every line before Line; Line, Code (a gRPC code) and Message are
// there only with an error.
type bulkResponse struct {
	Stored  int    `json:"stored"`
	Line    int    `json:"line,omitempty"`
	Code    int    `json:"code,omitempty"`
	Message string `json:"message,omitempty"`
}

func writeBulk(w http.ResponseWriter, stored, line int, err error) {
	resp := bulkResponse{Stored: stored}
	code := http.StatusOK
	if err != nil {
		err = apiError(err)
		code = httpStatus(err)
		resp.Line, resp.Code, resp.Message = line, int(status.Code(err)), err.Error()
		if line > 0 {
			resp.Message = fmt.Sprintf("line %d: %s", line, resp.Message)
		}
		setErrorHeaders(w.Header(), code, err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(resp)
}

// HTTPErrorHandler is the REST gateway's error handler. It answers as
// grpc-gateway's default does (a google.rpc.Status body, the HTTP status of
// its code), except: a full stream is 503 with Retry-After (not 429), a too
// large request or body is 413, and 401 says WWW-Authenticate: Bearer.
func HTTPErrorHandler(_ context.Context, _ *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, err error) {
	if st, ok := r.Context().Value(bodyKey{}).(*bodyState); ok && st.over {
		err = apiError(st.tooLarge())
	}
	writeError(w, m, err)
}

func writeError(w http.ResponseWriter, m runtime.Marshaler, err error) {
	code := httpStatus(err)
	var hse *runtime.HTTPStatusError
	if errors.As(err, &hse) {
		code, err = hse.HTTPStatus, hse.Err
	}
	pb := status.Convert(err).Proto()
	buf, merr := m.Marshal(pb)
	if merr != nil {
		code, buf = http.StatusInternalServerError, []byte(`{"code": 13, "message": "failed to marshal the error"}`)
	}
	h := w.Header()
	h.Del("Trailer")
	h.Del("Transfer-Encoding")
	h.Set("Content-Type", m.ContentType(pb))
	setErrorHeaders(h, code, err)
	w.WriteHeader(code)
	_, _ = w.Write(buf)
}

// httpStatus is the HTTP status of an error.
func httpStatus(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, spool.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, spool.ErrFull):
		return http.StatusServiceUnavailable
	}
	return runtime.HTTPStatusFromCode(status.Code(err))
}

func setErrorHeaders(h http.Header, code int, err error) {
	switch {
	case code == http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case status.Code(err) == codes.Unauthenticated:
		h.Set("WWW-Authenticate", `Bearer realm="tributary"`)
	}
}
