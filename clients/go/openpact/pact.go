package openpact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// scoped copies a per-pact request and names the client's pact in it when the caller left `pact`
// empty.
func scoped[T proto.Message](c *Client, req T) T {
	req = clone(req)
	m := req.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("pact")
	if m.Get(fd).String() == "" {
		m.Set(fd, protoreflect.ValueOfString(c.pact))
	}
	return req
}

// PactStatus returns the pact's status: identity, role, ledger length and confirmation.
func (c *Client) PactStatus(ctx context.Context) (*openpactv1.PactStatus, error) {
	return c.Pact.Status(ctx, &openpactv1.PactStatusRequest{Pact: c.pact})
}

// Agents lists the pact's agents: this peer and every member.
func (c *Client) Agents(ctx context.Context) ([]*openpactv1.Agent, error) {
	r, err := c.Pact.ListAgents(ctx, &openpactv1.ListAgentsRequest{Pact: c.pact})
	return r.GetAgents(), err
}

// CreateKnowledge records a piece of knowledge under a topic.
func (c *Client) CreateKnowledge(ctx context.Context, req *openpactv1.CreateKnowledgeRequest) (*openpactv1.Entry, error) {
	return c.Pact.CreateKnowledge(ctx, scoped(c, req))
}

// ListKnowledge returns one page of knowledge (newest first unless req.Page.Order says ASC).
func (c *Client) ListKnowledge(ctx context.Context, req *openpactv1.ListKnowledgeRequest) (*openpactv1.EntryPage, error) {
	return c.Pact.ListKnowledge(ctx, scoped(c, req))
}

// PostMessage posts a message to everyone, or to one agent with req.To.
func (c *Client) PostMessage(ctx context.Context, req *openpactv1.PostMessageRequest) (*openpactv1.Entry, error) {
	return c.Pact.PostMessage(ctx, scoped(c, req))
}

// ListMessages returns one page of messages.
func (c *Client) ListMessages(ctx context.Context, req *openpactv1.ListMessagesRequest) (*openpactv1.EntryPage, error) {
	return c.Pact.ListMessages(ctx, scoped(c, req))
}

// PublishSkill publishes a skill. When req.Checksum is empty it is computed from the content
// (SkillChecksum).
func (c *Client) PublishSkill(ctx context.Context, req *openpactv1.PublishSkillRequest) (*openpactv1.Entry, error) {
	req = scoped(c, req)
	if req.Checksum == "" {
		req.Checksum = SkillChecksum(req.Content)
	}
	return c.Pact.PublishSkill(ctx, req)
}

// SkillChecksum returns the checksum a skill's content is published with:
// "sha256:" + hex(SHA-256("openpact-skill-content:v1\n" + content)).
func SkillChecksum(content string) string {
	h := sha256.New()
	h.Write([]byte("openpact-skill-content:v1\n"))
	h.Write([]byte(content))
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ListSkills returns one page of skills.
func (c *Client) ListSkills(ctx context.Context, req *openpactv1.ListSkillsRequest) (*openpactv1.EntryPage, error) {
	return c.Pact.ListSkills(ctx, scoped(c, req))
}

// SkillContent returns a skill's content, verified against its checksum.
func (c *Client) SkillContent(ctx context.Context, id string) (*openpactv1.SkillContent, error) {
	return c.Pact.GetSkillContent(ctx, &openpactv1.GetSkillContentRequest{Pact: c.pact, Id: id})
}

// InstallSkill writes a skill's verified content into the pact's skills directory. Calling it is
// the confirmation: the request's Confirm is set.
func (c *Client) InstallSkill(ctx context.Context, id string) (*openpactv1.InstalledSkill, error) {
	return c.Pact.InstallSkill(ctx, &openpactv1.InstallSkillRequest{Pact: c.pact, Id: id, Confirm: true})
}

// InstalledSkills lists the skills installed from the pact.
func (c *Client) InstalledSkills(ctx context.Context) ([]*openpactv1.InstalledSkill, error) {
	r, err := c.Pact.ListInstalledSkills(ctx, &openpactv1.ListInstalledSkillsRequest{Pact: c.pact})
	return r.GetSkills(), err
}

// Entry returns the entry with this id, of any type.
func (c *Client) Entry(ctx context.Context, id string) (*openpactv1.Entry, error) {
	return c.Pact.GetEntry(ctx, &openpactv1.GetEntryRequest{Pact: c.pact, Id: id})
}

// ReferencedBy returns the entries whose refs name this id (a task's claims, a message's
// replies); empty, not an error, for an unknown id.
func (c *Client) ReferencedBy(ctx context.Context, id string) ([]*openpactv1.Entry, error) {
	r, err := c.Pact.ReferencedBy(ctx, &openpactv1.ReferencedByRequest{Pact: c.pact, Id: id})
	return r.GetEntries(), err
}

// Changes returns applied entries in this peer's arrival order after req.Since; with WaitMs it
// long-polls until something arrives.
func (c *Client) Changes(ctx context.Context, req *openpactv1.ChangesRequest) (*openpactv1.ChangesResponse, error) {
	return c.Pact.Changes(ctx, scoped(c, req))
}

// SetInfo changes the pact's name, purpose or claim TTL (an indexer's call).
func (c *Client) SetInfo(ctx context.Context, req *openpactv1.SetInfoRequest) (*openpactv1.SetInfoResponse, error) {
	return c.Pact.SetInfo(ctx, scoped(c, req))
}

// SetMe sets this peer's display name in the pact ("" clears it).
func (c *Client) SetMe(ctx context.Context, displayName string) (*openpactv1.SetMeResponse, error) {
	return c.Pact.SetMe(ctx, &openpactv1.SetMeRequest{Pact: c.pact, DisplayName: &displayName})
}

// MintInvite mints an invite token valid for ttl (0: the daemon's default, 7 days). Calling it is
// the confirmation: the request's Confirm is set.
func (c *Client) MintInvite(ctx context.Context, ttl time.Duration) (*openpactv1.MintInviteResponse, error) {
	return c.Pact.MintInvite(ctx, &openpactv1.MintInviteRequest{Pact: c.pact, TtlMs: uint64(ttl.Milliseconds()), Confirm: true})
}

// Invites lists the pact's invites.
func (c *Client) Invites(ctx context.Context) ([]*openpactv1.InviteSummary, error) {
	r, err := c.Pact.ListInvites(ctx, &openpactv1.ListInvitesRequest{Pact: c.pact})
	return r.GetInvites(), err
}

// RevokeInvite revokes an invite by its nonce. Calling it is the confirmation: the request's
// Confirm repeats the nonce.
func (c *Client) RevokeInvite(ctx context.Context, nonce string) (*openpactv1.RevokeInviteResponse, error) {
	return c.Pact.RevokeInvite(ctx, &openpactv1.RevokeInviteRequest{Pact: c.pact, Nonce: nonce, Confirm: nonce})
}

// RedeemInvite redeems a token for a joiner's member key, with this daemon as the indexer.
// Calling it is the confirmation: the request's Confirm is set.
func (c *Client) RedeemInvite(ctx context.Context, token, writerKey string) (*openpactv1.RedeemInviteResponse, error) {
	return c.Pact.RedeemInvite(ctx, &openpactv1.RedeemInviteRequest{Pact: c.pact, Token: token, WriterKey: writerKey, Confirm: true})
}
