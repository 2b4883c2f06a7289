package openpact

import (
	"context"
	"io"
	"iter"
	"sync"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Subscribe ranges over the daemon's events matching filter (nil: every pact, every kind). The
// subscription opens when the range starts; an event written before that is not seen (use
// OpenSubscription to be subscribed before writing, or filter.AfterArrival to resume). The range
// ends when ctx is cancelled (no error), when the daemon ends the stream (after a RESET event, or
// on shutdown), or after yielding a failure. Breaking out of the loop closes the stream.
func (c *Client) Subscribe(ctx context.Context, filter *openpactv1.SubscribeRequest) iter.Seq2[*openpactv1.Event, error] {
	return func(yield func(*openpactv1.Event, error) bool) {
		sub, err := c.OpenSubscription(ctx, filter)
		if err != nil {
			if ctx.Err() == nil {
				yield(nil, err)
			}
			return
		}
		defer sub.Close()
		for ev, err := range sub.Events() {
			if !yield(ev, err) {
				return
			}
		}
	}
}

// Subscription is an open event stream.
type Subscription struct {
	ctx    context.Context
	cancel context.CancelFunc
	stream openpactv1.Events_SubscribeClient
	once   sync.Once
}

// OpenSubscription subscribes to the daemon's events and returns once the daemon registered the
// subscription: every event after that reaches Events. Close it when done.
func (c *Client) OpenSubscription(ctx context.Context, filter *openpactv1.SubscribeRequest) (*Subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.Events.Subscribe(ctx, clone(filter))
	if err != nil {
		cancel()
		return nil, err
	}
	// The daemon sends its headers once the subscription is in place; a failure (an unknown pact,
	// say) ends the stream instead, and the first Recv returns it.
	md, _ := stream.Header()
	if md == nil {
		var ev openpactv1.Event
		err := stream.RecvMsg(&ev)
		if err == io.EOF {
			err = nil
		}
		if err != nil || ctx.Err() != nil {
			cancel()
			if err == nil {
				err = ctx.Err()
			}
			return nil, err
		}
	}
	return &Subscription{ctx: ctx, cancel: cancel, stream: stream}, nil
}

// Events ranges over the subscription's events, like Subscribe. Range over it once.
func (s *Subscription) Events() iter.Seq2[*openpactv1.Event, error] {
	return func(yield func(*openpactv1.Event, error) bool) {
		for {
			ev, err := s.stream.Recv()
			if err == io.EOF || s.ctx.Err() != nil {
				return
			}
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(ev, nil) {
				return
			}
		}
	}
}

// Close ends the subscription.
func (s *Subscription) Close() error {
	s.once.Do(s.cancel)
	return nil
}
