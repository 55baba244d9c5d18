package ledgerhttp

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The feed and the mailbox are long polls: the server holds a request
// until there is something to answer or the wait the client asked for
// passes, then answers 200 with nothing. The client asks again for as long
// as its context allows.
const (
	defaultWait = 20 * time.Second // when a long poll names no wait
	maxWait     = 30 * time.Second // the longest wait a long poll may ask for
	clientWait  = 25 * time.Second // what the client asks for: under maxWait, with room for the answer
)

// longPollRoutes are the feed and the relay between intermediaries.
func (s *Server) longPollRoutes() []route {
	return []route{
		{"GET /v1/feed", s.authed(s.handleFeed)},
		{"POST /v1/messages", s.authed(s.handleSend)},
		{"GET /v1/messages", s.authed(s.handleReceive)},
	}
}

// queryUint reads a whole-number query parameter; absent means 0.
func queryUint(q url.Values, name string) (uint64, error) {
	n, err := parseUint(q.Get(name))
	if err != nil {
		return 0, fmt.Errorf("%s must be a whole number, got %q", name, q.Get(name))
	}
	return n, nil
}

// queryWait reads a long poll's wait: a Go duration from 0s to maxWait,
// defaultWait when absent.
func queryWait(q url.Values) (time.Duration, error) {
	s := q.Get("wait")
	if s == "" {
		return defaultWait, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > maxWait {
		return 0, fmt.Errorf("wait must be a duration from 0s to %s, such as 20s, got %q", maxWait, s)
	}
	return d, nil
}

// badQuery answers 400, naming every bad query parameter, when there are any.
func badQuery(w http.ResponseWriter, errs ...error) bool {
	var msgs []string
	for _, err := range errs {
		if err != nil {
			msgs = append(msgs, err.Error())
		}
	}
	if len(msgs) > 0 {
		writeError(w, http.StatusBadRequest, "bad_request", strings.Join(msgs, "; "))
	}
	return len(msgs) > 0
}

// waitPassed reports whether err is the end of the server's own wait
// rather than of the client's request.
func waitPassed(r *http.Request, err error) bool {
	return errors.Is(err, context.DeadlineExceeded) && r.Context().Err() == nil
}

// pollWait is how long the next long poll asks the server to wait: as long
// as ctx allows, up to most.
func pollWait(ctx context.Context, most time.Duration) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	wait := most
	if deadline, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(deadline))
	}
	return max(wait.Truncate(time.Millisecond), 0), nil
}

// ctxOr returns ctx's error when ctx has ended, so a long poll cut short
// by its context says so as the in-process call does, and err otherwise.
func ctxOr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// longPoll calls ask with the wait to request (at most most) until it reports an answer
// with something in it, an error, or ctx ends. Without a deadline on ctx it
// asks again and again, so the caller blocks until something arrives.
func longPoll(ctx context.Context, most time.Duration, ask func(wait time.Duration) (bool, error)) error {
	for {
		wait, err := pollWait(ctx, most)
		if err != nil {
			return err
		}
		done, err := ask(wait)
		if err != nil {
			return ctxOr(ctx, err)
		}
		if done {
			return nil
		}
	}
}
