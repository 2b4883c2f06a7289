package openpact

import (
	"context"

	"google.golang.org/protobuf/proto"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Ping answers when the daemon serves requests, with its data dir, pid and version.
func (c *Client) Ping(ctx context.Context) (*openpactv1.PingResponse, error) {
	return c.Host.Ping(ctx, &openpactv1.PingRequest{})
}

// Ready says whether the daemon is ready (at least one pact exists).
func (c *Client) Ready(ctx context.Context) (*openpactv1.ReadyResponse, error) {
	return c.Host.Ready(ctx, &openpactv1.ReadyRequest{})
}

// Status returns the daemon's status: current pact, counts, version, process facts.
func (c *Client) Status(ctx context.Context) (*openpactv1.HostStatusResponse, error) {
	return c.Host.Status(ctx, &openpactv1.HostStatusRequest{})
}

// ListPacts lists the pacts on this host and names the current one.
func (c *Client) ListPacts(ctx context.Context) (*openpactv1.ListPactsResponse, error) {
	return c.Host.ListPacts(ctx, &openpactv1.ListPactsRequest{})
}

// CreatePact seals a new pact with this host as its creator. Calling it is the confirmation: the
// request's Confirm is set.
func (c *Client) CreatePact(ctx context.Context, req *openpactv1.CreatePactRequest) (*openpactv1.CreatePactResponse, error) {
	req = clone(req)
	req.Confirm = true
	return c.Host.CreatePact(ctx, req)
}

// SwitchPact makes the pact with this alias the daemon's current pact.
func (c *Client) SwitchPact(ctx context.Context, alias string) (*openpactv1.SwitchPactResponse, error) {
	return c.Host.SwitchPact(ctx, &openpactv1.SwitchPactRequest{Alias: alias, Confirm: alias})
}

// RenamePact changes a pact's local alias.
func (c *Client) RenamePact(ctx context.Context, aliasOrID, newAlias string) (*openpactv1.RenamePactResponse, error) {
	return c.Host.RenamePact(ctx, &openpactv1.RenamePactRequest{Pact: aliasOrID, Alias: newAlias})
}

// DeletePact removes a pact from this host and wipes its directory. Calling it is the
// confirmation: the request's Confirm repeats aliasOrID.
func (c *Client) DeletePact(ctx context.Context, aliasOrID string) (*openpactv1.DeletePactResponse, error) {
	return c.Host.DeletePact(ctx, &openpactv1.DeletePactRequest{Pact: aliasOrID, Confirm: aliasOrID})
}

// clone copies a request so the wrapper can fill fields without touching the caller's value; a
// nil request becomes an empty one.
func clone[T proto.Message](req T) T {
	m := req.ProtoReflect()
	if !m.IsValid() {
		return m.Type().New().Interface().(T)
	}
	return proto.Clone(req).(T)
}
