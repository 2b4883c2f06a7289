package openpact

import (
	"context"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// Every value of the Code enum has its sentinel, with the right code and an HTTP status, and it
// matches only errors of its own code.
func TestEveryWireCodeHasASentinel(t *testing.T) {
	if len(openpactv1.Code_name) < 41 {
		t.Fatalf("the enum has %d values", len(openpactv1.Code_name))
	}
	for n, name := range openpactv1.Code_name {
		code := openpactv1.Code(n)
		if code == openpactv1.Code_CODE_UNSPECIFIED {
			if Sentinel(code) != nil {
				t.Error("CODE_UNSPECIFIED has a sentinel")
			}
			continue
		}
		s := Sentinel(code)
		if s == nil {
			t.Errorf("%s has no sentinel", name)
			continue
		}
		if s.Code != code || s.HTTPStatus == 0 || s.HTTPStatus != HTTPStatus(code) {
			t.Errorf("%s: sentinel %+v", name, s)
		}
		err := error(&Error{Code: code, Message: "m"})
		for other := range openpactv1.Code_name {
			o := Sentinel(openpactv1.Code(other))
			if o != nil && errors.Is(err, o) != (o == s) {
				t.Errorf("errors.Is(%s, sentinel of %s) = %v", name, o.Code, !(o == s))
			}
		}
	}
	if len(sentinels) != len(openpactv1.Code_name)-1 {
		t.Errorf("%d sentinels for %d codes", len(sentinels), len(openpactv1.Code_name)-1)
	}
	// Spot checks of the generated names.
	for s, want := range map[*Error]openpactv1.Code{
		ErrUnknownPact:        openpactv1.Code_UNKNOWN_PACT,
		ErrBadCursor:          openpactv1.Code_BAD_CURSOR,
		ErrTaskAlreadyClaimed: openpactv1.Code_TASK_ALREADY_CLAIMED,
		ErrNotAMember:         openpactv1.Code_NOT_A_MEMBER,
		ErrInternal:           openpactv1.Code_INTERNAL,
	} {
		if s.Code != want {
			t.Errorf("sentinel %v has code %s", s, s.Code)
		}
	}
}

func TestTaskTakenMatchesBothWaysOfLosing(t *testing.T) {
	for code, want := range map[openpactv1.Code]bool{
		openpactv1.Code_TASK_NOT_OPEN:         true,
		openpactv1.Code_TASK_ALREADY_CLAIMED:  true,
		openpactv1.Code_TASK_ALREADY_COMPLETE: false,
		openpactv1.Code_NOT_FOUND:             false,
	} {
		if got := errors.Is(&Error{Code: code}, ErrTaskTaken); got != want {
			t.Errorf("%s: %v", code, got)
		}
	}
}

func daemonStatus(t *testing.T, grpcCode codes.Code, detail *openpactv1.ErrorDetail) *status.Status {
	t.Helper()
	st := status.New(grpcCode, detail.GetMessage())
	if detail != nil {
		var err error
		if st, err = st.WithDetails(detail); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// The code travels in the status details; without them, in the openpact-code trailer; a code
// this client does not know still gives an *Error (the base), matching no sentinel.
func TestConversion(t *testing.T) {
	conv := converter{socket: "/run/op/openpact.sock"}
	var e *Error

	err := conv.convert(daemonStatus(t, codes.NotFound, &openpactv1.ErrorDetail{Code: openpactv1.Code_UNKNOWN_PACT, HttpStatus: 404, Message: "no pact x"}).Err(), nil)
	if !errors.Is(err, ErrUnknownPact) || !errors.As(err, &e) || e.HTTPStatus != 404 || e.Message != "no pact x" {
		t.Errorf("from details: %#v", err)
	}
	if err.Error() != "UNKNOWN_PACT: no pact x" {
		t.Errorf("message %q", err.Error())
	}
	if s, ok := status.FromError(err); !ok || s.Code() != codes.NotFound {
		t.Errorf("status.FromError: %v", s)
	}

	// NO_AGENTS travels as UNAVAILABLE: still a wire error, not a missing daemon.
	err = conv.convert(daemonStatus(t, codes.Unavailable, &openpactv1.ErrorDetail{Code: openpactv1.Code_NO_AGENTS, HttpStatus: 503, Message: "no peers"}).Err(), nil)
	if !errors.Is(err, ErrNoAgents) || errors.Is(err, ErrDaemonUnavailable) {
		t.Errorf("NO_AGENTS: %#v", err)
	}

	err = conv.convert(daemonStatus(t, codes.InvalidArgument, nil).Err(), metadata.Pairs(CodeTrailer, "BAD_CURSOR"))
	if !errors.Is(err, ErrBadCursor) || !errors.As(err, &e) || e.HTTPStatus != 400 {
		t.Errorf("from the trailer: %#v", err)
	}

	unknown := []error{
		conv.convert(daemonStatus(t, codes.FailedPrecondition, &openpactv1.ErrorDetail{Code: 99, HttpStatus: 409, Message: "from the future"}).Err(), nil),
		conv.convert(status.New(codes.FailedPrecondition, "from the future").Err(), metadata.Pairs(CodeTrailer, "BRAND_NEW_CODE")),
	}
	for _, err := range unknown {
		if !errors.As(err, &e) {
			t.Fatalf("an unknown code is not an *Error: %#v", err)
		}
		for _, s := range sentinels {
			if errors.Is(err, s) {
				t.Errorf("an unknown code matches %s", s.Code)
			}
		}
		if !strings.Contains(err.Error(), "from the future") {
			t.Errorf("message %q", err.Error())
		}
	}
	if !strings.Contains(unknown[1].Error(), "BRAND_NEW_CODE") {
		t.Errorf("the unknown trailer code is lost: %q", unknown[1].Error())
	}

	// No code at all: a transport failure, or a status that is not the daemon's.
	err = conv.convert(status.Error(codes.Unavailable, "connection refused"), nil)
	var du *DaemonUnavailableError
	if !errors.Is(err, ErrDaemonUnavailable) || !errors.As(err, &du) || !strings.Contains(err.Error(), "/run/op/openpact.sock") {
		t.Errorf("unavailable: %#v", err)
	}
	canceled := status.FromContextError(context.Canceled).Err()
	if err := conv.convert(canceled, nil); err != canceled {
		t.Errorf("a cancelled call changed: %#v", err)
	}
}
