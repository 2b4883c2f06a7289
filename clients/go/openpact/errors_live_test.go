package openpact_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/status"

	"github.com/openpact/openpact/clients/go/openpact"
	"github.com/openpact/openpact/clients/go/openpactv1"
)

func randomHex(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// memberKey returns a fresh member key, 64 hex. (A random 64-hex string is not always a valid
// key: the daemon refuses those with BAD_ENTRY.)
func memberKey() string {
	pub, _, _ := ed25519.GenerateKey(rand.Reader)
	return hex.EncodeToString(pub)
}

// Every wire code a single daemon can be made to answer comes back as its sentinel, through the
// wrapper and through the raw generated clients alike.
func TestEveryReachableCodeIsItsSentinel(t *testing.T) {
	c := newPact(t)
	ctx := ctxFor(t)
	other := newPactNamed(t, c, "errors-other")

	task, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: "errors"})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		want *openpact.Error
		call func() error
	}{
		{"unknown pact", openpact.ErrUnknownPact, func() error {
			_, err := c.ForPact("no-such-pact").PactStatus(ctx)
			return err
		}},
		{"bad cursor", openpact.ErrBadCursor, func() error {
			_, err := c.ListKnowledge(ctx, &openpactv1.ListKnowledgeRequest{Page: &openpactv1.PageRequest{Cursor: ptr("garbage")}})
			return err
		}},
		{"unknown task", openpact.ErrNotFound, func() error {
			_, err := c.GetTask(ctx, "deadbeef-999")
			return err
		}},
		{"unknown entry", openpact.ErrNotFound, func() error {
			_, err := c.Entry(ctx, "deadbeef-999")
			return err
		}},
		{"bad status filter", openpact.ErrBadRequest, func() error {
			_, err := c.ListTasks(ctx, &openpactv1.ListTasksRequest{Status: ptr("sleeping")})
			return err
		}},
		{"page limit out of range", openpact.ErrBadRequest, func() error {
			_, err := c.ListKnowledge(ctx, &openpactv1.ListKnowledgeRequest{Page: &openpactv1.PageRequest{Limit: 5000}})
			return err
		}},
		{"alias taken on create", openpact.ErrPactAliasExists, func() error {
			_, err := c.CreatePact(ctx, &openpactv1.CreatePactRequest{Name: "again", Alias: ptr(mainPact)})
			return err
		}},
		{"alias taken on rename", openpact.ErrPactAliasExists, func() error {
			_, err := c.RenamePact(ctx, "errors-other", mainPact)
			return err
		}},
		{"create without confirm (raw client)", openpact.ErrNotConfirmed, func() error {
			_, err := c.Host.CreatePact(ctx, &openpactv1.CreatePactRequest{Name: "unconfirmed", Alias: ptr("unconfirmed")})
			return err
		}},
		{"switch with a wrong confirm (raw client)", openpact.ErrNotConfirmed, func() error {
			_, err := c.Host.SwitchPact(ctx, &openpactv1.SwitchPactRequest{Alias: mainPact, Confirm: "other"})
			return err
		}},
		{"release an open task", openpact.ErrNotClaimed, func() error {
			_, err := c.ReleaseTask(ctx, task.Id)
			return err
		}},
		{"claim a task assigned to someone else", openpact.ErrNotAssignee, func() error {
			assigned, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: "theirs", AssignedTo: ptr("anon-otter-0123abcd")})
			if err != nil {
				return err
			}
			_, err = c.ClaimTask(ctx, assigned.Id)
			return err
		}},
		{"claim a claimed task", openpact.ErrTaskNotOpen, func() error {
			if _, err := c.ClaimTask(ctx, task.Id); err != nil {
				return err
			}
			_, err := c.ClaimTask(ctx, task.Id)
			return err
		}},
		{"complete a complete task", openpact.ErrTaskAlreadyComplete, func() error {
			if _, err := c.CompleteTask(ctx, task.Id, "done"); err != nil {
				return err
			}
			_, err := c.CompleteTask(ctx, task.Id, "again")
			return err
		}},
		{"claim a complete task", openpact.ErrTaskNotOpen, func() error {
			_, err := c.ClaimTask(ctx, task.Id)
			return err
		}},
		{"bad skill name", openpact.ErrBadSkillName, func() error {
			_, err := c.PublishSkill(ctx, &openpactv1.PublishSkillRequest{Name: "../../etc/passwd", Version: "1.0.0", Format: "generic", Content: "x"})
			return err
		}},
		{"skill checksum mismatch", openpact.ErrSkillChecksumMismatch, func() error {
			_, err := c.PublishSkill(ctx, &openpactv1.PublishSkillRequest{Name: "s", Version: "1.0.0", Format: "generic", Content: "x", Checksum: openpact.SkillChecksum("y")})
			return err
		}},
		{"payload too large", openpact.ErrPayloadTooLarge, func() error {
			_, err := c.CreateKnowledge(ctx, &openpactv1.CreateKnowledgeRequest{Topic: "big", Content: strings.Repeat("x", 70_000)})
			return err
		}},
		{"bad entry", openpact.ErrBadEntry, func() error {
			_, err := c.CreateTask(ctx, &openpactv1.CreateTaskRequest{Title: "bad", ExtraJson: `{"claimed_by": 5}`})
			return err
		}},
		{"revoke an unknown invite", openpact.ErrUnknownInvite, func() error {
			_, err := c.RevokeInvite(ctx, randomHex(48))
			return err
		}},
		{"redeem a malformed token", openpact.ErrInviteBadShape, func() error {
			_, err := c.RedeemInvite(ctx, "garbage", randomHex(64))
			return err
		}},
		{"redeem another pact's token", openpact.ErrInviteWrongPact, func() error {
			inv, err := other.MintInvite(ctx, 0)
			if err != nil {
				return err
			}
			_, err = c.RedeemInvite(ctx, inv.Token, memberKey())
			return err
		}},
		{"redeem a revoked invite", openpact.ErrInviteRevoked, func() error {
			inv, err := c.MintInvite(ctx, 0)
			if err != nil {
				return err
			}
			if _, err := c.RevokeInvite(ctx, inv.Nonce); err != nil {
				return err
			}
			_, err = c.RedeemInvite(ctx, inv.Token, memberKey())
			return err
		}},
		{"redeem a spent invite", openpact.ErrInviteSpent, func() error {
			inv, err := c.MintInvite(ctx, 0)
			if err != nil {
				return err
			}
			if _, err := c.RedeemInvite(ctx, inv.Token, memberKey()); err != nil {
				return err
			}
			_, err = c.RedeemInvite(ctx, inv.Token, memberKey())
			return err
		}},
		{"promote (not in this release)", openpact.ErrNotSupportedYet, func() error {
			_, err := c.Pact.PromoteMember(ctx, &openpactv1.PromoteMemberRequest{Pact: c.DefaultPact(), Key: memberKey(), Confirm: true})
			return err
		}},
		{"remove the last indexer", openpact.ErrLastIndexer, func() error {
			st, err := c.PactStatus(ctx)
			if err != nil {
				return err
			}
			_, err = c.Pact.AdminRemove(ctx, &openpactv1.PromoteMemberRequest{Pact: c.DefaultPact(), Key: st.PublicKey, Confirm: true})
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			wantCode(t, err, tc.want)
			// The gRPC status stays readable through the error.
			if s, ok := status.FromError(err); !ok || s.Message() == "" {
				t.Errorf("status.FromError: %v %v", s, ok)
			}
			var e *openpact.Error
			if errors.As(err, &e) {
				t.Logf("%s (HTTP %d): %s", e.Code, e.HTTPStatus, e.Message)
			}
		})
	}
}

func newPactNamed(t *testing.T, c *openpact.Client, alias string) *openpact.Client {
	t.Helper()
	if _, err := c.CreatePact(ctxFor(t), &openpactv1.CreatePactRequest{Name: alias, Alias: &alias}); err != nil {
		t.Fatalf("create pact %s: %v", alias, err)
	}
	return c.ForPact(alias)
}
