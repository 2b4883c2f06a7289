package openpact

import (
	"context"
	"errors"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// CodeTrailer is the trailer that carries the wire code's name on every failed call.
const CodeTrailer = "openpact-code"

// Error is a call the daemon refused, with its wire code. Every wire code has a sentinel
// (ErrUnknownPact, ErrBadCursor, ...) that matches it with errors.Is; errors.As(err, &e) with
// e *Error matches them all, codes this client does not know included.
type Error struct {
	// Code is the wire code; CODE_UNSPECIFIED when the daemon sent a code this client does not
	// know (its name is then in the message).
	Code openpactv1.Code
	// HTTPStatus is the status REST answers the same failure with.
	HTTPStatus int
	// Message is the daemon's message.
	Message string

	status *status.Status
}

// Error returns "CODE: message".
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code.String()
	}
	return e.Code.String() + ": " + e.Message
}

// Is matches an *Error with the same code (the sentinels), and the groups (ErrTaskTaken).
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case *Error:
		return t.Code == e.Code
	case *codeGroup:
		for _, c := range t.codes {
			if c == e.Code {
				return true
			}
		}
	}
	return false
}

// GRPCStatus returns the gRPC status the error came with, so status.FromError still works.
func (e *Error) GRPCStatus() *status.Status {
	if e.status != nil {
		return e.status
	}
	return status.New(codes.Unknown, e.Error())
}

func sentinel(code openpactv1.Code) *Error {
	return &Error{Code: code, HTTPStatus: HTTPStatus(code)}
}

// Sentinel returns the sentinel of a wire code, or nil for a code this client does not know.
func Sentinel(code openpactv1.Code) *Error { return sentinels[code] }

// HTTPStatus returns the status REST answers a wire code with (spec/rest-api.md, section 5); 0
// for a code this client does not know. SKILL_CHECKSUM_MISMATCH is 400 here (on publish); the
// daemon says 500 when stored content no longer matches, and Error.HTTPStatus carries that.
func HTTPStatus(code openpactv1.Code) int {
	switch code {
	case openpactv1.Code_BAD_REQUEST, openpactv1.Code_BAD_CURSOR, openpactv1.Code_BAD_ENTRY,
		openpactv1.Code_BAD_SKILL_NAME, openpactv1.Code_NOT_CONFIRMED,
		openpactv1.Code_INVITE_BAD_SHAPE, openpactv1.Code_INVITE_WRONG_PACT,
		openpactv1.Code_SKILL_CHECKSUM_MISMATCH:
		return 400
	case openpactv1.Code_UNAUTHORIZED:
		return 401
	case openpactv1.Code_FORBIDDEN_HOST, openpactv1.Code_FORBIDDEN_ORIGIN:
		return 403
	case openpactv1.Code_NOT_FOUND, openpactv1.Code_UNKNOWN_PACT, openpactv1.Code_UNKNOWN_INVITE:
		return 404
	case openpactv1.Code_TASK_NOT_OPEN, openpactv1.Code_TASK_ALREADY_CLAIMED,
		openpactv1.Code_TASK_ALREADY_COMPLETE, openpactv1.Code_NOT_CLAIMER,
		openpactv1.Code_NOT_CLAIMED, openpactv1.Code_NOT_ASSIGNEE, openpactv1.Code_NOT_A_MEMBER,
		openpactv1.Code_NOT_INDEXER, openpactv1.Code_NOT_CREATOR, openpactv1.Code_PACT_NOT_READY,
		openpactv1.Code_PACT_ALIAS_EXISTS, openpactv1.Code_INVITE_REVOKED,
		openpactv1.Code_INVITE_SPENT, openpactv1.Code_INVITE_NOT_INDEXER,
		openpactv1.Code_LAST_INDEXER, openpactv1.Code_NOT_SUPPORTED_YET:
		return 409
	case openpactv1.Code_INVITE_EXPIRED:
		return 410
	case openpactv1.Code_PAYLOAD_TOO_LARGE:
		return 413
	case openpactv1.Code_UNSUPPORTED_MEDIA_TYPE:
		return 415
	case openpactv1.Code_RATE_LIMITED:
		return 429
	case openpactv1.Code_INTERNAL:
		return 500
	case openpactv1.Code_NO_AGENTS, openpactv1.Code_NO_INDEXER_REACHABLE,
		openpactv1.Code_AGENT_DISCONNECTED:
		return 503
	case openpactv1.Code_VIEW_TIMEOUT, openpactv1.Code_NOT_CONFIRMED_YET:
		return 504
	}
	return 0
}

// codeGroup is a sentinel matching any of several codes.
type codeGroup struct {
	name  string
	codes []openpactv1.Code
}

func (g *codeGroup) Error() string { return g.name }

// ErrTaskTaken matches both ways a claim can lose (spec Decision 5): TASK_NOT_OPEN (the daemon
// saw the other claim before writing) and TASK_ALREADY_CLAIMED (its claim lost in the ledger
// order). Either way someone else has the task.
var ErrTaskTaken error = &codeGroup{
	name:  "task taken by someone else (TASK_NOT_OPEN or TASK_ALREADY_CLAIMED)",
	codes: []openpactv1.Code{openpactv1.Code_TASK_NOT_OPEN, openpactv1.Code_TASK_ALREADY_CLAIMED},
}

// ErrDaemonUnavailable matches the failure to reach the daemon at all (nothing answers on the
// socket). The error is a *DaemonUnavailableError.
var ErrDaemonUnavailable = errors.New("openpact daemon unavailable")

// DaemonUnavailableError says that nothing answered on the socket.
type DaemonUnavailableError struct {
	// Socket is the path dialled.
	Socket string
	// Err is the transport's error.
	Err error
}

func (e *DaemonUnavailableError) Error() string {
	cause := e.Err.Error()
	if s, ok := status.FromError(e.Err); ok {
		cause = s.Message()
	}
	return fmt.Sprintf("The OpenPact daemon is not answering on %s (%s). Start it with `openpact start`.", e.Socket, cause)
}

// Is matches ErrDaemonUnavailable.
func (e *DaemonUnavailableError) Is(target error) bool { return target == ErrDaemonUnavailable }

// Unwrap returns the transport's error.
func (e *DaemonUnavailableError) Unwrap() error { return e.Err }

// converter turns gRPC failures into *Error (the daemon's refusals) or DaemonUnavailableError (no
// daemon); other failures (a cancelled context, say) stay as gRPC returned them.
type converter struct{ socket string }

func (c converter) convert(err error, trailer metadata.MD) error {
	if err == nil || err == io.EOF {
		return err
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	if e := fromStatus(st, trailer); e != nil {
		return e
	}
	if st.Code() == codes.Unavailable {
		return &DaemonUnavailableError{Socket: c.socket, Err: err}
	}
	return err
}

// fromStatus reads the wire code from the status details (an openpact.v1.ErrorDetail), else from
// the openpact-code trailer; nil when the status carries neither.
func fromStatus(st *status.Status, trailer metadata.MD) *Error {
	for _, d := range st.Details() {
		if ed, ok := d.(*openpactv1.ErrorDetail); ok && ed.Code != openpactv1.Code_CODE_UNSPECIFIED {
			return &Error{Code: ed.Code, HTTPStatus: int(ed.HttpStatus), Message: ed.Message, status: st}
		}
	}
	names := trailer.Get(CodeTrailer)
	if len(names) == 0 {
		return nil
	}
	code := openpactv1.Code(openpactv1.Code_value[names[0]])
	msg := st.Message()
	if code == openpactv1.Code_CODE_UNSPECIFIED {
		msg = names[0] + ": " + msg
	}
	return &Error{Code: code, HTTPStatus: HTTPStatus(code), Message: msg, status: st}
}

func (c converter) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	var trailer metadata.MD
	err := invoker(ctx, method, req, reply, cc, append(opts, grpc.Trailer(&trailer))...)
	return c.convert(err, trailer)
}

func (c converter) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	s, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		return nil, c.convert(err, nil)
	}
	return &convertingStream{ClientStream: s, c: c}, nil
}

type convertingStream struct {
	grpc.ClientStream
	c converter
}

func (s *convertingStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == nil || err == io.EOF {
		return err
	}
	return s.c.convert(err, s.Trailer())
}
