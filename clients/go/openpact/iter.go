package openpact

import (
	"context"
	"fmt"
	"iter"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// KnowledgeAll ranges over every knowledge entry matching filter (nil: all), fetching pages of
// pageSize (0: the daemon's default, 50) and following the cursor until HasMore is false. The
// order is filter.Page.Order (newest first by default); filter.Page.Cursor, when set, is where it
// starts. A failed page is yielded as the error, and ends the range.
func (c *Client) KnowledgeAll(ctx context.Context, filter *openpactv1.ListKnowledgeRequest, pageSize int) iter.Seq2[*openpactv1.Entry, error] {
	req := scoped(c, filter)
	return pages(req.Page, pageSize, func(p *openpactv1.PageRequest) ([]*openpactv1.Entry, *string, bool, error) {
		q := clone(req)
		q.Page = p
		r, err := c.Pact.ListKnowledge(ctx, q)
		if err != nil {
			return nil, nil, false, err
		}
		return r.Entries, r.Cursor, r.HasMore, nil
	})
}

// MessagesAll ranges over every message matching filter, like KnowledgeAll.
func (c *Client) MessagesAll(ctx context.Context, filter *openpactv1.ListMessagesRequest, pageSize int) iter.Seq2[*openpactv1.Entry, error] {
	req := scoped(c, filter)
	return pages(req.Page, pageSize, func(p *openpactv1.PageRequest) ([]*openpactv1.Entry, *string, bool, error) {
		q := clone(req)
		q.Page = p
		r, err := c.Pact.ListMessages(ctx, q)
		if err != nil {
			return nil, nil, false, err
		}
		return r.Entries, r.Cursor, r.HasMore, nil
	})
}

// TasksAll ranges over every task matching filter, like KnowledgeAll.
func (c *Client) TasksAll(ctx context.Context, filter *openpactv1.ListTasksRequest, pageSize int) iter.Seq2[*openpactv1.TaskState, error] {
	req := scoped(c, filter)
	return pages(req.Page, pageSize, func(p *openpactv1.PageRequest) ([]*openpactv1.TaskState, *string, bool, error) {
		q := clone(req)
		q.Page = p
		r, err := c.Pact.ListTasks(ctx, q)
		if err != nil {
			return nil, nil, false, err
		}
		return r.Tasks, r.Cursor, r.HasMore, nil
	})
}

// SkillsAll ranges over every skill matching filter, like KnowledgeAll.
func (c *Client) SkillsAll(ctx context.Context, filter *openpactv1.ListSkillsRequest, pageSize int) iter.Seq2[*openpactv1.Entry, error] {
	req := scoped(c, filter)
	return pages(req.Page, pageSize, func(p *openpactv1.PageRequest) ([]*openpactv1.Entry, *string, bool, error) {
		q := clone(req)
		q.Page = p
		r, err := c.Pact.ListSkills(ctx, q)
		if err != nil {
			return nil, nil, false, err
		}
		return r.Entries, r.Cursor, r.HasMore, nil
	})
}

// pages walks a paginated list: fetch gets one page for a PageRequest and returns its rows, its
// cursor and whether more follow. Each range starts again from first's cursor.
func pages[T any](first *openpactv1.PageRequest, pageSize int, fetch func(*openpactv1.PageRequest) ([]T, *string, bool, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		if pageSize < 0 || pageSize > 1000 {
			yield(zero, fmt.Errorf("openpact: page size %d is out of range: use 1..1000, or 0 for the default", pageSize))
			return
		}
		cursor := first.GetCursor()
		for {
			p := &openpactv1.PageRequest{Order: first.GetOrder(), Limit: uint32(pageSize)}
			if cursor != "" {
				p.Cursor = &cursor
			}
			rows, next, more, err := fetch(p)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, row := range rows {
				if !yield(row, nil) {
					return
				}
			}
			if !more {
				return
			}
			if next == nil || *next == cursor {
				yield(zero, fmt.Errorf("openpact: the daemon said more rows follow but gave no new cursor (after %q)", cursor))
				return
			}
			cursor = *next
		}
	}
}
