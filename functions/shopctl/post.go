package shopctl

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	cehttp "github.com/cloudevents/sdk-go/v2/protocol/http"
)

// answer is what cm-api said to one stored event.
type answer struct {
	status    int
	duplicate bool
	refused   string // 400/422: why it can never be stored
}

// retryable is whether a status may succeed later, as a KafkaSource
// decides it for cm-api (functions/cm-api/receive.go's storeProblem).
func retryable(status int) bool {
	return status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
}

// postRetrying posts e, retrying a transient failure 5 times, waiting
// 0.5 s x n before retry n.
func (rp *replayer) postRetrying(ctx context.Context, e *event.Event) (answer, error) {
	var last error
	for attempt := range 6 {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
			case <-ctx.Done():
				return answer{}, ctx.Err()
			}
		}
		a, err := rp.post(ctx, e)
		if err == nil && !retryable(a.status) {
			return a, nil
		}
		if err == nil {
			err = fmt.Errorf("cm-api answered %d", a.status)
		}
		if ctx.Err() != nil {
			return answer{}, ctx.Err()
		}
		last = err
	}
	return answer{}, fmt.Errorf("after 6 attempts: %w", last)
}

// post sends e to cm-api's POST / in binary mode, as a KafkaSource does.
func (rp *replayer) post(ctx context.Context, e *event.Event) (answer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rp.to+"/", nil)
	if err != nil {
		return answer{}, fmt.Errorf("request: %w", err)
	}
	if err := cehttp.WriteRequest(binding.WithForceBinary(ctx), binding.ToMessage(e), req); err != nil {
		return answer{}, fmt.Errorf("encode event: %w", err)
	}
	if rp.tokenFile != "" {
		token, err := os.ReadFile(rp.tokenFile) // read each time: projected tokens rotate
		if err != nil {
			return answer{}, fmt.Errorf("read token file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := rp.http.Do(req)
	if err != nil {
		return answer{}, fmt.Errorf("post to cm-api: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Duplicate bool   `json:"duplicate"`
		Message   string `json:"message"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	a := answer{status: resp.StatusCode, duplicate: body.Duplicate}
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return a, fmt.Errorf("%w (%d: %s)", errReplayRefusedIdentity, resp.StatusCode, body.Message)
	case resp.StatusCode >= 400 && !retryable(resp.StatusCode):
		a.refused = body.Message
		if a.refused == "" {
			a.refused = http.StatusText(resp.StatusCode)
		}
	}
	return a, nil
}
