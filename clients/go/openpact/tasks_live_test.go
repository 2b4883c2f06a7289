package openpact_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Two clients on two connections claim the same task at the same moment: exactly one wins, and
// the loser's error says someone else has it (TASK_NOT_OPEN when the daemon saw the winner
// before writing, TASK_ALREADY_CLAIMED when its own claim lost in the ledger order). Repeated
// over at least 20 tasks, with and without waiting for confirmation, and until a loser has been
// seen losing in the ledger order itself (TASK_ALREADY_CLAIMED).
func TestConcurrentClaimHasExactlyOneWinner(t *testing.T) {
	owner := newPact(t)
	a := dial(t, owner.DefaultPact())
	b := dial(t, owner.DefaultPact())
	ctx := ctxFor(t)

	losses := map[openpactv1.Code]int{}
	for round := 0; round < 20 || losses[openpactv1.Code_TASK_ALREADY_CLAIMED] == 0; round++ {
		if round == 200 {
			t.Fatalf("200 races and no claim lost in the ledger order: %v", losses)
		}
		var opts []openpact.TaskOption
		if round%2 == 1 {
			opts = append(opts, openpact.WaitConfirmed(10*time.Second))
		}
		task, err := owner.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: fmt.Sprintf("race %d", round)})
		if err != nil {
			t.Fatal(err)
		}
		start := make(chan struct{})
		var wg sync.WaitGroup
		results := make([]*openpactv1.TaskState, 2)
		errs := make([]error, 2)
		for i, c := range []*openpact.Client{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errs[i] = c.ClaimTask(ctx, task.Id, opts...)
			}()
		}
		close(start)
		wg.Wait()

		winners := 0
		for i := range 2 {
			if errs[i] == nil {
				winners++
				if results[i].Status != "claimed" || results[i].GetClaimedBy() == "" {
					t.Errorf("round %d: the winner got %v", round, results[i])
				}
				if len(opts) > 0 && !results[i].Confirmed {
					t.Errorf("round %d: WaitConfirmed returned an unconfirmed claim", round)
				}
				continue
			}
			if !errors.Is(errs[i], openpact.ErrTaskTaken) {
				t.Fatalf("round %d: the loser got %v, want TASK_NOT_OPEN or TASK_ALREADY_CLAIMED", round, errs[i])
			}
			var e *openpact.Error
			errors.As(errs[i], &e)
			losses[e.Code]++
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners (%v)", round, winners, errs)
		}
		final, err := owner.GetTask(ctx, task.Id)
		if err != nil || final.Status != "claimed" {
			t.Fatalf("round %d: after the race the task is %v (%v)", round, final, err)
		}
	}
	t.Logf("how the losers lost: %v", losses)
}

// The task life cycle through the wrapper: claim, release, claim again, complete with a result,
// waiting for confirmation, and the history that leaves.
func TestTaskLifecycle(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)
	task, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: "ship it", Description: ptr("the release")})
	if err != nil {
		t.Fatal(err)
	}
	claimed, err := c.ClaimTask(ctx, task.Id, openpact.WaitConfirmed(0))
	if err != nil || claimed.Status != "claimed" || !claimed.Confirmed || claimed.Outcome != "applied" {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	released, err := c.ReleaseTask(ctx, task.Id)
	if err != nil || released.Status != "open" || released.ClaimedBy != nil {
		t.Fatalf("release: %v %v", released, err)
	}
	if _, err := c.ClaimTask(ctx, task.Id); err != nil {
		t.Fatal(err)
	}
	done, err := c.CompleteTask(ctx, task.Id, "shipped", openpact.WaitConfirmed(5*time.Second))
	if err != nil || done.Status != "complete" || done.GetResult() != "shipped" || !done.Confirmed {
		t.Fatalf("complete: %v %v", done, err)
	}
	got, err := c.GetTask(ctx, task.Id)
	if err != nil || got.Status != "complete" || len(got.History) != 5 || got.GetDescription() != "the release" {
		t.Fatalf("get: %v %v", got, err)
	}
	refs, err := c.ReferencedBy(ctx, task.Id)
	if err != nil || len(refs) != 4 {
		t.Fatalf("referenced by: %d entries, %v", len(refs), err)
	}
	// Complete skips the claim on an open task; no result stays absent.
	open, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: "quick"})
	if err != nil {
		t.Fatal(err)
	}
	quick, err := c.CompleteTask(ctx, open.Id, "")
	if err != nil || quick.Status != "complete" || quick.Result != nil {
		t.Fatalf("complete an open task: %v %v", quick, err)
	}
}
