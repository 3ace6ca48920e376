package journal_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/retrylab/retrylab/internal/journal"
)

func ExampleScan() {
	var buf bytes.Buffer
	if err := journal.Generate(&buf, 1000, 1); err != nil {
		fmt.Println(err)
		return
	}
	buf.WriteString(`{"seq":1001,"ts":17780616`) // a torn last write

	statuses := map[int]int{}
	st, err := journal.Scan(context.Background(), &buf, "journal.jsonl", func(r *journal.Record) error {
		statuses[r.Status/100]++
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("records:", st.Records, "torn:", st.Torn, "bad:", len(st.Bad))
	fmt.Println("2xx, 4xx, 5xx:", statuses[2], statuses[4], statuses[5])
	// Output:
	// records: 1000 torn: 1 bad: 0
	// 2xx, 4xx, 5xx: 797 62 141
}

func ExampleUnmarshal() {
	line := `{"seq":7,"client":"k_356f2a523a55e285","method":"POST","path":"/v1/calls","status":429,"retry_after_ms":12000}`
	var r journal.Record
	if err := journal.Unmarshal([]byte(line), &r); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Seq, r.Method, r.Path, r.Status, r.RetryAfterMs, r.Attempt)

	err := journal.Unmarshal([]byte(strings.Replace(line, "429", "4.29", 1)), &r)
	fmt.Println(err != nil)
	// Output:
	// 7 POST /v1/calls 429 12000 0
	// true
}
