package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	sdkerrors "github.com/aliyun/alibaba-cloud-sdk-go/sdk/errors"
)

// fast keeps Do's real waits to a millisecond or two.
var fast = Policy{Initial: time.Millisecond, Max: 2 * time.Millisecond, Multiplier: 2, Jitter: 0.5}

// tryError is the n-th try's API error, told apart by its RequestId.
func tryError(status int, code string, n int) error {
	return sdkerrors.NewServerError(status, fmt.Sprintf(`{"Code":%q,"Message":"try %d","RequestId":"try-%d"}`, code, n, n), "")
}

func TestDoRetriesRetryable(t *testing.T) {
	for _, tc := range []struct {
		code   string
		status int
	}{{"ServiceUnavailable", 503}, {"Throttling.User", 400}} {
		t.Run(tc.code, func(t *testing.T) {
			tries := 0
			var notified []error
			err := fast.Do(context.Background(), time.Time{}, func() error {
				tries++
				if tries < 4 {
					return tryError(tc.status, tc.code, tries)
				}
				return nil
			}, func(err error, wait time.Duration) {
				if wait <= 0 || wait > time.Duration(float64(fast.Max)*(1+fast.Jitter))+1 {
					t.Errorf("notified wait %v, want within (0, Max*(1+Jitter)]", wait)
				}
				notified = append(notified, err)
			})
			if err != nil {
				t.Fatalf("Do = %v, want nil", err)
			}
			if tries != 4 || len(notified) != 3 {
				t.Fatalf("%d tries and %d notifications, want 4 and 3", tries, len(notified))
			}
			for i, err := range notified {
				if got, want := RequestID(err), fmt.Sprintf("try-%d", i+1); got != want {
					t.Errorf("notification %d for %s, want %s", i, got, want)
				}
			}
		})
	}
}

func TestDoStopsOnNonRetryable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"permanent", tryError(404, "InvalidParameter", 1)},
		{"credentials", tryError(404, "InvalidAccessKeyId.NotFound", 1)},
		{"marked permanent", WithClass(errors.New("bad answer"), Permanent)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Ends a wrong retry loop at its second try rather than never.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			tries := 0
			err := fast.Do(ctx, time.Time{}, func() error {
				tries++
				if tries > 1 {
					cancel()
				}
				return tc.err
			}, func(error, time.Duration) { t.Error("notify called for a non-retryable error") })
			if tries != 1 {
				t.Fatalf("%d tries, want 1", tries)
			}
			if !errors.Is(err, tc.err) || Classify(err) != Classify(tc.err) {
				t.Fatalf("Do = %v, want op's error (redacted, wrapping it)", err)
			}
		})
	}
}

func TestDoDeadline(t *testing.T) {
	t.Run("passed: one try", func(t *testing.T) {
		tries := 0
		err := fast.Do(context.Background(), time.Now().Add(-time.Second), func() error {
			tries++
			return tryError(503, "ServiceUnavailable", tries)
		}, nil)
		if tries != 1 {
			t.Fatalf("%d tries, want 1", tries)
		}
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("Do = %v, want ErrDeadline", err)
		}
		if Code(err) != "ServiceUnavailable" || RequestID(err) != "try-1" {
			t.Fatalf("Code, RequestID = %q, %q, want the last try's", Code(err), RequestID(err))
		}
	})

	t.Run("returns the last try's error", func(t *testing.T) {
		tries := 0
		// With 1-3ms waits, a 20ms deadline allows a few tries.
		err := fast.Do(context.Background(), time.Now().Add(20*time.Millisecond), func() error {
			tries++
			return tryError(400, "Throttling", tries)
		}, nil)
		if !errors.Is(err, ErrDeadline) {
			t.Fatalf("Do = %v, want ErrDeadline", err)
		}
		if se, ok := errors.AsType[*sdkerrors.ServerError](err); !ok || se.RequestId() != fmt.Sprintf("try-%d", tries) {
			t.Fatalf("Do = %v after %d tries, want the last try's error", err, tries)
		}
		if Classify(err) != Throttled {
			t.Fatalf("Classify = %v, want throttled", Classify(err))
		}
	})
}

func TestDoContext(t *testing.T) {
	t.Run("done before the first try", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := fast.Do(ctx, time.Time{}, func() error {
			t.Error("op ran with a done context")
			return nil
		}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
	})

	t.Run("canceled from notify", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		tries := 0
		err := fast.Do(ctx, time.Time{}, func() error {
			tries++
			return tryError(503, "ServiceUnavailable", tries)
		}, func(error, time.Duration) {
			if tries == 3 {
				cancel()
			}
		})
		if tries != 3 {
			t.Fatalf("%d tries, want 3", tries)
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Do = %v, want context.Canceled", err)
		}
		if RequestID(err) != "try-3" || Code(err) != "ServiceUnavailable" {
			t.Fatalf("RequestID, Code = %q, %q, want the last try's", RequestID(err), Code(err))
		}
	})

	t.Run("deadline exceeded", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		err := fast.Do(ctx, time.Time{}, func() error { return nil }, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Do = %v, want context.DeadlineExceeded", err)
		}
	})

	// A long wait ends as soon as the context is canceled.
	t.Run("canceled during a long wait", func(t *testing.T) {
		slow := Policy{Initial: time.Hour, Max: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		waiting := make(chan struct{})
		done := make(chan error, 1)
		go func() {
			done <- slow.Do(ctx, time.Time{}, func() error {
				return tryError(503, "ServiceUnavailable", 1)
			}, func(error, time.Duration) { close(waiting) })
		}()
		<-waiting
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) || Code(err) != "ServiceUnavailable" {
				t.Fatalf("Do = %v, want context.Canceled and the last try's error", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Do still waiting 10s after its context was canceled")
		}
	})
}

// Errors Do builds never show the signed URL an SDK error's text holds.
func TestDoErrorTextRedacted(t *testing.T) {
	raw := fmt.Errorf("post: %w", &urlErrorWithToken)
	err := fast.Do(context.Background(), time.Now().Add(-time.Second), func() error { return raw }, nil)
	if got := err.Error(); contains(got, secretToken) {
		t.Fatalf("Do's error text leaks the token: %q", got)
	}
	if got := Redact(raw).Error(); contains(got, secretToken) || !contains(got, "https://slb.cn-hangzhou.aliyuncs.com/") {
		t.Fatalf("Redact text = %q, want the endpoint without the token", got)
	}
	if !errors.Is(Redact(raw), raw.(interface{ Unwrap() error }).Unwrap()) || Classify(Redact(raw)) != Transient {
		t.Fatal("Redact hides the error it wraps")
	}
}
