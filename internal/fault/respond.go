package fault

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/retrylab/retrylab/internal/profile"
)

// Body shapes of a respond fault.
const (
	BodySeed000 = "seed000" // {"error":{"code","message","request_id"}} (default)
	BodySeed002 = "seed002" // {"error","message","retry_after"}
	BodyPlain   = "plain"   // the status text as text/plain
	BodyEmpty   = "empty"   // no body
)

func init() { Register(profile.FaultRespond, newRespond) }

// Respond answers the request itself, without forwarding: any status, a Retry-After in
// any form (valid or deliberately malformed) and an error body in one of the seeds' shapes.
type Respond struct {
	status  int
	after   time.Duration
	form    string
	body    string
	code    string
	message string
}

func newRespond(spec profile.Fault) (Fault, error) {
	r := &Respond{status: spec.Status, after: spec.RetryAfter.D(), form: spec.RetryAfterForm, body: spec.Body}
	if r.status == 0 {
		r.status = fasthttp.StatusServiceUnavailable
	}
	if r.status < 100 || r.status > 999 {
		return nil, fmt.Errorf("status %d: want an HTTP status", r.status)
	}
	if err := checkRetryAfterForm(r.form); err != nil {
		return nil, err
	}
	switch r.body {
	case "":
		r.body = BodySeed000
	case BodySeed000, BodySeed002, BodyPlain, BodyEmpty:
	default:
		return nil, fmt.Errorf("body %q: want seed000, seed002, plain or empty", r.body)
	}
	r.code, r.message = errorCode(r.status)
	return r, nil
}

// errorCode returns the seeds-style error code and message for status.
func errorCode(status int) (code, message string) {
	switch status {
	case 408:
		return "request_timeout", "The request took too long"
	case 429:
		return "rate_limited", "Too many requests, retry later"
	case 500:
		return "internal_error", "Internal server error"
	case 502:
		return "bad_gateway", "Upstream issue, retry with exponential backoff"
	case 503:
		return "service_unavailable", "Temporary maintenance, retry with backoff"
	case 504:
		return "gateway_timeout", "Upstream timed out, retry with exponential backoff"
	}
	text := fasthttp.StatusMessage(status)
	return strings.ReplaceAll(strings.ToLower(text), " ", "_"), text
}

// Apply writes the configured answer.
func (r *Respond) Apply(x *Exchange) {
	writeError(x, r.status, r.after, r.form, r.body, r.code, r.message)
}

// writeError fills x.Ctx.Response with an error answer.
func writeError(x *Exchange, status int, after time.Duration, form, shape, code, message string) {
	resp := &x.Ctx.Response
	resp.Reset()
	resp.SetStatusCode(status)
	x.Status = status
	if v, ok := retryAfterValue(after, form, x.Host.Now()); ok {
		resp.Header.Set("Retry-After", v)
	}
	secs := int64((after + time.Second - 1) / time.Second)
	var b []byte
	switch shape {
	case BodySeed000:
		resp.Header.SetContentType("application/json")
		b = append(b, `{"error":{"code":"`...)
		b = append(b, code...)
		b = append(b, `","message":"`...)
		b = append(b, message...)
		b = append(b, `","request_id":"req_`...)
		b = appendHex(b, x.Rand)
		b = append(b, "\"}}\n"...)
	case BodySeed002:
		resp.Header.SetContentType("application/json")
		b = append(b, `{"error":"`...)
		b = append(b, code...)
		b = append(b, `","message":"`...)
		b = append(b, message...)
		b = append(b, `","retry_after":`...)
		b = strconv.AppendInt(b, secs, 10)
		b = append(b, "}\n"...)
	case BodyPlain:
		resp.Header.SetContentType("text/plain; charset=utf-8")
		b = append(b, fasthttp.StatusMessage(status)...)
		b = append(b, '\n')
	}
	resp.SetBodyRaw(b)
}

func appendHex(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[(v>>uint(i))&0xf])
	}
	return b
}
