package openpact

import (
	"context"
	"time"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// CreateTask adds an open task.
func (c *Client) CreateTask(ctx context.Context, req *openpactv1.CreateTaskRequest) (*openpactv1.TaskState, error) {
	return c.Pact.CreateTask(ctx, scoped(c, req))
}

// ListTasks returns one page of tasks (req.Status filters open, claimed or complete; a page may
// hold fewer rows than the limit while HasMore is true).
func (c *Client) ListTasks(ctx context.Context, req *openpactv1.ListTasksRequest) (*openpactv1.TaskPage, error) {
	return c.Pact.ListTasks(ctx, scoped(c, req))
}

// GetTask returns a task's state and history.
func (c *Client) GetTask(ctx context.Context, id string) (*openpactv1.TaskState, error) {
	return c.Pact.GetTask(ctx, &openpactv1.GetTaskRequest{Pact: c.pact, Id: id})
}

// TaskOption configures a claim, complete or release.
type TaskOption func(*openpactv1.TaskActionRequest)

// WaitConfirmed makes the call return only once the pact's indexers confirmed its entry, so its
// outcome is final: a lost claim then fails with ErrTaskAlreadyClaimed, and a timeout with
// ErrNotConfirmedYet. timeout 0 means the daemon's default (10 s); at most 60 s. The context's
// deadline must leave the daemon that long.
func WaitConfirmed(timeout time.Duration) TaskOption {
	return func(r *openpactv1.TaskActionRequest) {
		r.Wait = openpactv1.Wait_CONFIRMED
		r.WaitMs = uint32(timeout.Milliseconds())
	}
}

// ClaimTask claims an open task for this peer. Without WaitConfirmed it returns after the local
// apply, with Confirmed telling whether the outcome is final. A claim that loses to another
// matches ErrTaskTaken (ErrTaskNotOpen or ErrTaskAlreadyClaimed).
func (c *Client) ClaimTask(ctx context.Context, id string, opts ...TaskOption) (*openpactv1.TaskState, error) {
	return c.Pact.ClaimTask(ctx, c.taskAction(id, nil, opts))
}

// CompleteTask completes a task (claimed by this peer, or open) with a result ("" for none).
func (c *Client) CompleteTask(ctx context.Context, id, result string, opts ...TaskOption) (*openpactv1.TaskState, error) {
	var r *string
	if result != "" {
		r = &result
	}
	return c.Pact.CompleteTask(ctx, c.taskAction(id, r, opts))
}

// ReleaseTask gives back a task this peer claimed, so it is open again.
func (c *Client) ReleaseTask(ctx context.Context, id string, opts ...TaskOption) (*openpactv1.TaskState, error) {
	return c.Pact.ReleaseTask(ctx, c.taskAction(id, nil, opts))
}

func (c *Client) taskAction(id string, result *string, opts []TaskOption) *openpactv1.TaskActionRequest {
	r := &openpactv1.TaskActionRequest{Pact: c.pact, Id: id, Result: result}
	for _, o := range opts {
		o(r)
	}
	return r
}
