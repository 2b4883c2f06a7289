package openpact_test

import (
	"context"
	"testing"
	"time"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Subscribed first, then a knowledge write: its ENTRY_APPLIED event arrives with the entry.
func TestSubscriptionSeesAWrite(t *testing.T) {
	c := newPact(t)
	ctx, cancel := context.WithTimeout(ctxFor(t), 10*time.Second)
	defer cancel()
	sub, err := c.OpenSubscription(ctx, &openpactv1.SubscribeRequest{
		Pacts: []string{c.DefaultPact()},
		Kinds: []openpactv1.EventKind{openpactv1.EventKind_ENTRY_APPLIED},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	written, err := c.CreateKnowledge(ctx, &openpactv1.CreateKnowledgeRequest{Topic: "events", Content: "an event arrives"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.PactStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for ev, err := range sub.Events() {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind != openpactv1.EventKind_ENTRY_APPLIED || ev.PactId != st.PactId || ev.Alias != c.DefaultPact() {
			t.Fatalf("unexpected event %v", ev)
		}
		if ev.GetApplied().GetEntry().GetId() == written.Id {
			if got := ev.GetApplied().GetEntry().GetKnowledge().GetContent(); got != "an event arrives" {
				t.Errorf("event content %q", got)
			}
			return
		}
	}
	t.Fatalf("the stream ended without the write's event (%v)", ctx.Err())
}

// Subscribe (the iterator) resumes from an arrival, and ends without an error when its context
// is cancelled.
func TestSubscribeIteratorResumesAndEndsWithTheContext(t *testing.T) {
	c := newPact(t)
	var entries []*openpactv1.Entry
	for _, content := range []string{"one", "two", "three"} {
		e, err := c.CreateKnowledge(ctxFor(t), &openpactv1.CreateKnowledgeRequest{Topic: "resume", Content: content})
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
	}
	ctx, cancel := context.WithTimeout(ctxFor(t), 10*time.Second)
	defer cancel()
	// The changes feed carries each entry's arrival (the write's answer and GetEntry leave it 0).
	changes, err := c.Changes(ctx, &openpactv1.ChangesRequest{Type: openpactv1.EntryType_KNOWLEDGE.Enum()})
	if err != nil || len(changes.Entries) != 3 || changes.Entries[0].Id != entries[0].Id {
		t.Fatalf("changes: %v %v", changes, err)
	}
	filter := &openpactv1.SubscribeRequest{Pacts: []string{c.DefaultPact()}, AfterArrival: ptr(changes.Entries[0].Arrival)}
	var seen []string
	for ev, err := range c.Subscribe(ctx, filter) {
		if err != nil {
			t.Fatalf("after %v: %v", seen, err)
		}
		if id := ev.GetApplied().GetId(); id != "" {
			seen = append(seen, id)
		}
		if len(seen) == 2 {
			cancel()
		}
	}
	if len(seen) != 2 || seen[0] != entries[1].Id || seen[1] != entries[2].Id {
		t.Errorf("resumed with %v, want the last two of %v", seen, ids(entries))
	}
	if ctx.Err() != context.Canceled {
		t.Errorf("the range ended before the cancel: %v", ctx.Err())
	}
}

// A subscription that cannot start (an unknown pact) fails at once, as UNKNOWN_PACT.
func TestSubscribeToAnUnknownPactFails(t *testing.T) {
	c := dial(t, "")
	ctx := ctxFor(t)
	_, err := c.OpenSubscription(ctx, &openpactv1.SubscribeRequest{Pacts: []string{"no-such-pact"}})
	wantCode(t, err, openpact.ErrUnknownPact)
	var errs []error
	for _, err := range c.Subscribe(ctx, &openpactv1.SubscribeRequest{Pacts: []string{"no-such-pact"}}) {
		errs = append(errs, err)
	}
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	wantCode(t, errs[0], openpact.ErrUnknownPact)
}
