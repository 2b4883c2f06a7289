package openpact_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

func TestPactsCreateListSwitchRenameDelete(t *testing.T) {
	c := dial(t, "")
	ctx := ctxFor(t)
	created, err := c.CreatePact(ctx, &openpactv1.CreatePactRequest{Name: "Scratch", Purpose: ptr("to be deleted"), Alias: ptr("scratch")})
	if err != nil || created.Alias != "scratch" || created.Role != "creator" || len(created.PactId) != 64 {
		t.Fatalf("create: %v %v", created, err)
	}
	list, err := c.ListPacts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	aliases := make([]string, 0, len(list.Pacts))
	for _, p := range list.Pacts {
		aliases = append(aliases, p.Alias)
	}
	if !slices.Contains(aliases, "scratch") || !slices.Contains(aliases, mainPact) {
		t.Fatalf("pacts %v", aliases)
	}

	sw, err := c.SwitchPact(ctx, "scratch")
	if err != nil || sw.Current != "scratch" {
		t.Fatalf("switch: %v %v", sw, err)
	}
	// With no pact of its own, a client acts on the daemon's current pact.
	cur, err := c.ForPact("").PactStatus(ctx)
	if err != nil || cur.Alias != "scratch" || !cur.IsCurrent {
		t.Fatalf("current pact: %v %v", cur, err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.GetCurrent() != "scratch" || st.PactCount < 2 {
		t.Fatalf("status: %v %v", st, err)
	}
	if _, err := c.SwitchPact(ctx, mainPact); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SwitchPact(ctx, "no-such-pact"); err == nil {
		t.Fatal("switched to an unknown pact")
	} else {
		wantCode(t, err, openpact.ErrUnknownPact)
	}

	renamed, err := c.RenamePact(ctx, "scratch", "scratch2")
	if err != nil || renamed.Alias != "scratch2" || renamed.PactId != created.PactId {
		t.Fatalf("rename: %v %v", renamed, err)
	}
	deleted, err := c.DeletePact(ctx, "scratch2")
	if err != nil || deleted.PactId != created.PactId {
		t.Fatalf("delete: %v %v", deleted, err)
	}
	if _, err := os.Stat(deleted.DataDir); !os.IsNotExist(err) {
		t.Errorf("the pact's directory %s is still there (%v)", deleted.DataDir, err)
	}
	_, err = c.ForPact("scratch2").PactStatus(ctx)
	wantCode(t, err, openpact.ErrUnknownPact)
	ready, err := c.Ready(ctx)
	if err != nil || !ready.Ok {
		t.Errorf("ready: %v %v", ready, err)
	}
}

func TestMessagesSkillsEntriesAndChanges(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)
	me, err := c.PactStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}

	hello, err := c.PostMessage(ctx, &openpactv1.PostMessageRequest{Content: "hello", Priority: ptr("high")})
	if err != nil || hello.GetMessage().GetContent() != "hello" || hello.GetMessage().GetPriority() != "high" {
		t.Fatalf("post: %v %v", hello, err)
	}
	reply, err := c.PostMessage(ctx, &openpactv1.PostMessageRequest{Content: "hi back", ReplyTo: &hello.Id})
	if err != nil || !slices.Equal(reply.Refs, []string{hello.Id}) {
		t.Fatalf("reply: %v %v", reply, err)
	}
	replies, err := c.ReferencedBy(ctx, hello.Id)
	if err != nil || len(replies) != 1 || replies[0].Id != reply.Id {
		t.Fatalf("referenced by: %v %v", replies, err)
	}
	mine, err := c.ListMessages(ctx, &openpactv1.ListMessagesRequest{AgentId: &me.PeerHandle})
	if err != nil || len(mine.Entries) != 2 {
		t.Fatalf("messages by %s: %v %v", me.PeerHandle, mine, err)
	}

	const content = "# scrape\nfetch and parse\n"
	skill, err := c.PublishSkill(ctx, &openpactv1.PublishSkillRequest{Name: "scraper", Version: "1.0.0", Format: "openclaw", Content: content, Description: ptr("scrapes")})
	if err != nil || skill.GetSkill().GetChecksum() != openpact.SkillChecksum(content) {
		t.Fatalf("publish: %v %v", skill, err)
	}
	if got := openpact.SkillChecksum("hello world"); got != "sha256:d5ae0e2bf8419e3fdfbb6b26073fdb005a0e39ec45019e426dd68ffad6815083" {
		t.Errorf("SkillChecksum(hello world) = %s", got)
	}
	sc, err := c.SkillContent(ctx, skill.Id)
	if err != nil || sc.Content != content || sc.Name != "scraper" {
		t.Fatalf("content: %v %v", sc, err)
	}
	inst, err := c.InstallSkill(ctx, skill.Id)
	if err != nil || inst.Id != skill.Id {
		t.Fatalf("install: %v %v", inst, err)
	}
	if b, err := os.ReadFile(inst.Path); err != nil || string(b) != content {
		t.Errorf("installed file %s: %q %v", inst.Path, b, err)
	}
	installed, err := c.InstalledSkills(ctx)
	if err != nil || len(installed) != 1 || installed[0].Id != skill.Id {
		t.Fatalf("installed: %v %v", installed, err)
	}
	_, err = c.InstallSkill(ctx, "deadbeef-999")
	wantCode(t, err, openpact.ErrNotFound)

	got, err := c.Entry(ctx, skill.Id)
	if err != nil || got.Type != openpactv1.EntryType_SKILL || got.Hash != skill.Hash {
		t.Fatalf("entry: %v %v", got, err)
	}

	// Changes: everything so far, then a long poll that a write ends.
	all, err := c.Changes(ctx, nil)
	if err != nil || len(all.Entries) != 3 || all.HasMore {
		t.Fatalf("changes: %v %v", all, err)
	}
	type answer struct {
		r   *openpactv1.ChangesResponse
		err error
	}
	polled := make(chan answer, 1)
	go func() {
		r, err := c.Changes(ctx, &openpactv1.ChangesRequest{Since: all.Cursor, WaitMs: 10_000})
		polled <- answer{r, err}
	}()
	time.Sleep(100 * time.Millisecond)
	late, err := c.CreateKnowledge(ctx, &openpactv1.CreateKnowledgeRequest{Topic: "late", Content: "wakes the poll"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-polled:
		if a.err != nil || len(a.r.Entries) != 1 || a.r.Entries[0].Id != late.Id {
			t.Fatalf("long poll: %v %v", a.r, a.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the long poll did not return after the write")
	}
}

func TestAgentsInfoMeAndInvites(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)
	agents, err := c.Agents(ctx)
	if err != nil || len(agents) != 1 || !agents[0].IsSelf || agents[0].Role != "creator" {
		t.Fatalf("agents: %v %v", agents, err)
	}
	me, err := c.SetMe(ctx, "Go tests")
	if err != nil || me.GetDisplayName() != "Go tests" {
		t.Fatalf("set me: %v %v", me, err)
	}
	info, err := c.SetInfo(ctx, &openpactv1.SetInfoRequest{
		Name:       &openpactv1.OptionalString{Value: ptr("Renamed")},
		Purpose:    &openpactv1.OptionalString{Value: ptr("testing the Go client")},
		ClaimTtlMs: ptr(uint64(3_600_000)),
	})
	if err != nil || info.GetPactName() != "Renamed" || info.ClaimTtlMs != 3_600_000 {
		t.Fatalf("set info: %v %v", info, err)
	}
	st, err := c.PactStatus(ctx)
	if err != nil || st.GetPactName() != "Renamed" || st.GetDisplayName() != "Go tests" || st.ClaimTtlMs != 3_600_000 {
		t.Fatalf("status after set: %v %v", st, err)
	}

	inv, err := c.MintInvite(ctx, time.Hour)
	if err != nil || inv.Token == "" || len(inv.Nonce) != 48 {
		t.Fatalf("mint: %v %v", inv, err)
	}
	if exp, err := time.Parse(time.RFC3339, inv.ExpiresAt); err != nil || time.Until(exp) > time.Hour+time.Minute || time.Until(exp) < 50*time.Minute {
		t.Errorf("expires at %s (%v)", inv.ExpiresAt, err)
	}
	invites, err := c.Invites(ctx)
	if err != nil || len(invites) != 1 || invites[0].Nonce != inv.Nonce || invites[0].Revoked {
		t.Fatalf("invites: %v %v", invites, err)
	}
	if _, err := c.RevokeInvite(ctx, inv.Nonce); err != nil {
		t.Fatal(err)
	}
	invites, err = c.Invites(ctx)
	if err != nil || len(invites) != 1 || !invites[0].Revoked {
		t.Fatalf("invites after revoke: %v %v", invites, err)
	}
}
