package chart_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/retrylab/retrylab/internal/chart"
	"github.com/retrylab/retrylab/internal/journal"
)

func ExampleDrawAll() {
	dir, err := os.MkdirTemp("", "retrylab-charts")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// A two-attempt operation: a 503 with Retry-After: 1s, then a 201 1.2 s later.
	start := int64(1_767_225_600_000_000_000)
	var buf []byte
	for _, r := range []journal.Record{
		{Seq: 1, Time: start, Op: "op-1", Attempt: 1, Method: "POST", Path: "/v1/calls",
			Action: journal.ActionRespond, Status: 503, RetryAfterMs: 1000, DurNs: 1e6},
		{Seq: 2, Time: start + 1.2e9, Op: "op-1", Attempt: 2, Method: "POST", Path: "/v1/calls",
			Action: journal.ActionForward, Status: 201, RetryAfterMs: journal.NoRetryAfter, DurNs: 8e6},
	} {
		buf = journal.AppendRecord(buf, &r)
	}
	jp := filepath.Join(dir, "journal.jsonl")
	if err := os.WriteFile(jp, buf, 0o644); err != nil {
		log.Fatal(err)
	}

	in := chart.Input{Dir: dir, Journals: []string{jp}}
	paths, err := chart.DrawAll(context.Background(), in)
	if err != nil {
		log.Fatal(err)
	}
	if err := chart.WriteHTML(filepath.Join(dir, "report.html"), in, paths); err != nil {
		log.Fatal(err)
	}
	for _, p := range paths {
		fmt.Println(filepath.Base(p))
	}
	// Output:
	// latency.png
	// latency.svg
	// percentiles.png
	// percentiles.svg
	// rps.png
	// rps.svg
	// attempts.png
	// attempts.svg
	// retry_after.png
	// retry_after.svg
	// clients.png
	// clients.svg
}
