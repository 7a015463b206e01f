package gateway

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestReadiness(t *testing.T) {
	var r readiness
	check := func(wantCode int, wantBody string) {
		t.Helper()
		rec := httptest.NewRecorder()
		r.serveHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if rec.Code != wantCode || strings.TrimSpace(rec.Body.String()) != wantBody {
			t.Errorf("readyz = %d %q, want %d %q", rec.Code, rec.Body.String(), wantCode, wantBody)
		}
	}
	check(503, "serving: not started")
	r.set("serving", nil)
	check(200, "ok")
	r.set("spool", errors.New("opening"))
	r.set("broker", errors.New("binding"))
	check(503, "broker: binding\nspool: opening")
	r.set("spool", nil)
	r.set("broker", nil)
	r.set("serving", errShuttingDown)
	check(503, "serving: shutting down")
}
