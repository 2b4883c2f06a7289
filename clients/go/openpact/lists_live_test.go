package openpact_test

import (
	"fmt"
	"iter"
	"slices"
	"testing"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Seven entries with a page size of three: three pages (3, 3, 1), newest first, and the iterator
// walks them all with nothing repeated or lost.
func TestKnowledgeAllWalksEveryPageNewestFirst(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)
	var written []string
	for i := range 7 {
		e, err := c.CreateKnowledge(ctx, &openpactv1.CreateKnowledgeRequest{Topic: "paging", Content: fmt.Sprintf("fact %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if e.GetKnowledge().GetContent() != fmt.Sprintf("fact %d", i) || e.Type != openpactv1.EntryType_KNOWLEDGE {
			t.Fatalf("create answered %v", e)
		}
		written = append(written, e.Id)
	}
	newestFirst := slices.Clone(written)
	slices.Reverse(newestFirst)

	// The pages as the daemon cuts them.
	var sizes []int
	var paged []string
	var cursor *string
	for {
		page, err := c.ListKnowledge(ctx, &openpactv1.ListKnowledgeRequest{Page: &openpactv1.PageRequest{Limit: 3, Cursor: cursor}})
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page.Entries))
		for _, e := range page.Entries {
			paged = append(paged, e.Id)
		}
		if !page.HasMore {
			break
		}
		cursor = page.Cursor
	}
	if !slices.Equal(sizes, []int{3, 3, 1}) {
		t.Errorf("page sizes %v, want [3 3 1]", sizes)
	}
	if !slices.Equal(paged, newestFirst) {
		t.Errorf("pages hold %v, want %v", paged, newestFirst)
	}

	// The iterator.
	got := collect(t, c.KnowledgeAll(ctx, nil, 3))
	if !slices.Equal(ids(got), newestFirst) {
		t.Errorf("KnowledgeAll gave %v, want %v", ids(got), newestFirst)
	}
	// Oldest first, and a topic that matches nothing.
	asc := collect(t, c.KnowledgeAll(ctx, &openpactv1.ListKnowledgeRequest{Page: &openpactv1.PageRequest{Order: openpactv1.Order_ASC}}, 2))
	if !slices.Equal(ids(asc), written) {
		t.Errorf("ASC gave %v, want %v", ids(asc), written)
	}
	if none := collect(t, c.KnowledgeAll(ctx, &openpactv1.ListKnowledgeRequest{Topic: ptr("elsewhere")}, 3)); len(none) != 0 {
		t.Errorf("topic filter gave %v", ids(none))
	}
	// Breaking out stops the walk.
	n := 0
	for _, err := range c.KnowledgeAll(ctx, nil, 3) {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if n == 4 {
			break
		}
	}
	if n != 4 {
		t.Errorf("break: saw %d", n)
	}
	// A failed page ends the range with the error.
	var errs []error
	for e, err := range c.KnowledgeAll(ctx, &openpactv1.ListKnowledgeRequest{Page: &openpactv1.PageRequest{Cursor: ptr("garbage")}}, 3) {
		if e != nil {
			t.Errorf("got an entry with a bad cursor: %v", e)
		}
		errs = append(errs, err)
	}
	if len(errs) != 1 {
		t.Fatalf("want one error, got %v", errs)
	}
	wantCode(t, errs[0], openpact.ErrBadCursor)
}

func TestMessagesTasksAndSkillsIterate(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)

	var messages []string
	for i := range 5 {
		e, err := c.PostMessage(ctx, &openpactv1.PostMessageRequest{Content: fmt.Sprintf("hello %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		messages = append(messages, e.Id)
	}
	slices.Reverse(messages)
	if got := ids(collect(t, c.MessagesAll(ctx, nil, 2))); !slices.Equal(got, messages) {
		t.Errorf("MessagesAll gave %v, want %v", got, messages)
	}
	page, err := c.ListMessages(ctx, &openpactv1.ListMessagesRequest{Page: &openpactv1.PageRequest{Limit: 2}})
	if err != nil || len(page.Entries) != 2 || !page.HasMore {
		t.Errorf("ListMessages: %v %v", page, err)
	}

	var tasks []string
	for i := range 5 {
		ts, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: fmt.Sprintf("task %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if ts.Status != "open" || len(ts.History) != 1 {
			t.Errorf("created task: %v", ts)
		}
		tasks = append(tasks, ts.Id)
	}
	slices.Reverse(tasks)
	if _, err := c.ClaimTask(ctx, tasks[0]); err != nil {
		t.Fatal(err)
	}
	var all []string
	for ts, err := range c.TasksAll(ctx, nil, 2) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, ts.Id)
	}
	if !slices.Equal(all, tasks) {
		t.Errorf("TasksAll gave %v, want %v", all, tasks)
	}
	// A filtered walk: pages may come short, the iterator still finds every match.
	var open []string
	for ts, err := range c.TasksAll(ctx, &openpactv1.ListTasksRequest{Status: ptr("open")}, 1) {
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, ts.Id)
	}
	if !slices.Equal(open, tasks[1:]) {
		t.Errorf("open tasks %v, want %v", open, tasks[1:])
	}
	tp, err := c.ListTasks(ctx, &openpactv1.ListTasksRequest{Status: ptr("claimed")})
	if err != nil || len(tp.Tasks) != 1 || tp.Tasks[0].Id != tasks[0] || tp.HasMore {
		t.Errorf("claimed tasks: %v %v", tp, err)
	}

	var skills []string
	for _, name := range []string{"alpha", "beta", "gamma"} {
		e, err := c.PublishSkill(ctx, &openpactv1.PublishSkillRequest{Name: name, Version: "1.0.0", Format: "generic", Content: "do " + name})
		if err != nil {
			t.Fatal(err)
		}
		skills = append(skills, e.Id)
	}
	slices.Reverse(skills)
	if got := ids(collect(t, c.SkillsAll(ctx, nil, 2))); !slices.Equal(got, skills) {
		t.Errorf("SkillsAll gave %v, want %v", got, skills)
	}
	if got := collect(t, c.SkillsAll(ctx, &openpactv1.ListSkillsRequest{Format: ptr("openclaw")}, 2)); len(got) != 0 {
		t.Errorf("format filter gave %v", ids(got))
	}
	sp, err := c.ListSkills(ctx, nil)
	if err != nil || len(sp.Entries) != 3 {
		t.Errorf("ListSkills: %v %v", sp, err)
	}
}

func TestPageSizeOutOfRangeIsAnError(t *testing.T) {
	c := dial(t, "")
	for _, size := range []int{-1, 1001} {
		var errs []error
		for _, err := range c.KnowledgeAll(ctxFor(t), nil, size) {
			errs = append(errs, err)
		}
		if len(errs) != 1 || errs[0] == nil {
			t.Errorf("page size %d: %v", size, errs)
		}
	}
}

func collect[T any](t *testing.T, seq iter.Seq2[T, error]) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func ids(entries []*openpactv1.Entry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Id
	}
	return out
}
