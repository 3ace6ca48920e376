package retrylab_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/retrylab/retrylab"
)

// retryOn503 is a small client-side retry layer of the kind an application writes: it retries
// a 503 once, after the Retry-After the server asked for, reusing the same request (and so the
// same Idempotency-Key and operation id).
type retryOn503 struct{ next http.RoundTripper }

func (rt retryOn503) RoundTrip(req *http.Request) (*http.Response, error) {
	req.Header.Set("Idempotency-Key", req.Header.Get("X-Retrylab-Op"))
	resp, err := rt.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		return resp, err
	}
	wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	resp.Body.Close()
	time.Sleep(time.Duration(wait)*time.Second + 50*time.Millisecond)
	retry := req.Clone(req.Context())
	if req.GetBody != nil {
		retry.Body, _ = req.GetBody()
	}
	return rt.next.RoundTrip(retry)
}

// A plain http.Client does not retry: every operation of the brownout fails and the
// success-rate gate says so. The same client with a Retry-After-aware layer passes.
func Example() {
	ctx := context.Background()

	plain, err := retrylab.Run(ctx, "testdata/example-brownout.yaml", &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("plain client:", plain.Verdict, "success_rate", plain.Metrics["success_rate"])

	retrying, err := retrylab.RunTransport(ctx, "testdata/example-brownout.yaml", retryOn503{http.DefaultTransport})
	if err != nil {
		fmt.Println("error:", err)
		return
	}
	fmt.Println("retrying client:", retrying.Verdict, "retry_after violations", retrying.Metrics["retry_after.violations"])
	// Output:
	// plain client: fail success_rate 0
	// retrying client: pass retry_after violations 0
}
