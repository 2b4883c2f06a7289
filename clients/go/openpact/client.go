// Package openpact is the Go client of an OpenPact daemon's control plane (gRPC service
// openpact.v1 on the unix socket <data-dir>/openpact.sock).
//
// Dial finds the socket, checks that the daemon answers and returns a Client. Its methods take a
// context first and return the generated message types of package openpactv1; per-pact methods
// act on the client's pact (WithPact, or the daemon's current pact). Failed calls return an
// *Error carrying the wire code: match it with errors.Is(err, openpact.ErrUnknownPact) and the
// other sentinels, or read it with errors.As. List methods have iterators (KnowledgeAll, ...)
// that follow the cursor, and Subscribe ranges over the daemon's events.
//
// The generated clients stay reachable as c.Host, c.Pact and c.Events, for calls and fields the
// wrapper does not cover; their errors are converted the same way.
package openpact

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/openpact/openpact/clients/go/openpactv1"
)

// SocketName is the control plane socket's file name inside the data dir.
const SocketName = "openpact.sock"

// DataDirEnv names the environment variable that overrides the default data dir.
const DataDirEnv = "OPENPACT_DATA_DIR"

// maxRecvBytes bounds one answer: a page holds up to 1000 entries of up to 64 KiB payload each.
const maxRecvBytes = 128 << 20

// Client talks to one daemon over its unix socket. It is safe for concurrent use.
type Client struct {
	// Host is the generated client of the host service (the daemon and its pacts).
	Host openpactv1.HostClient
	// Pact is the generated client of the per-pact service.
	Pact openpactv1.PactClient
	// Events is the generated client of the event stream.
	Events openpactv1.EventsClient

	conn   *grpc.ClientConn
	socket string
	pact   string
}

// Option configures Dial.
type Option func(*config)

type config struct {
	dataDir  string
	socket   string
	pact     string
	dialOpts []grpc.DialOption
}

// WithDataDir sets the daemon's data dir; the socket is <dir>/openpact.sock.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithSocket sets the socket path itself (it wins over the data dir).
func WithSocket(path string) Option { return func(c *config) { c.socket = path } }

// WithPact sets the pact (alias or 64-hex id) that per-pact methods act on. Without it they act on
// the daemon's current pact, read at each call.
func WithPact(aliasOrID string) Option { return func(c *config) { c.pact = aliasOrID } }

// WithDialOptions adds gRPC dial options (interceptors, keepalive, ...).
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOpts = append(c.dialOpts, opts...) }
}

// SocketPath returns the socket Dial would use with these options: WithSocket, else
// <WithDataDir>/openpact.sock, else $OPENPACT_DATA_DIR/openpact.sock, else
// ~/.openpact/openpact.sock.
func SocketPath(opts ...Option) (string, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	return cfg.socketPath()
}

func (cfg *config) socketPath() (string, error) {
	path := cfg.socket
	if path == "" {
		dir := cfg.dataDir
		if dir == "" {
			dir = os.Getenv(DataDirEnv)
		}
		if dir == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return "", fmt.Errorf("openpact: no data dir: set %s or pass WithDataDir (%w)", DataDirEnv, err)
			}
			dir = filepath.Join(home, ".openpact")
		}
		path = filepath.Join(dir, SocketName)
	}
	return filepath.Abs(path)
}

// Dial connects to the daemon and checks that it answers (Host.Ping). When nothing answers on the
// socket, the error matches ErrDaemonUnavailable.
func Dial(ctx context.Context, opts ...Option) (*Client, error) {
	var cfg config
	for _, o := range opts {
		o(&cfg)
	}
	socket, err := cfg.socketPath()
	if err != nil {
		return nil, err
	}
	convert := converter{socket: socket}
	dialOpts := append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxRecvBytes)),
		grpc.WithChainUnaryInterceptor(convert.unary),
		grpc.WithChainStreamInterceptor(convert.stream),
	}, cfg.dialOpts...)
	conn, err := grpc.NewClient("unix:"+socket, dialOpts...)
	if err != nil {
		return nil, fmt.Errorf("openpact: cannot use socket %s: %w", socket, err)
	}
	c := &Client{
		Host:   openpactv1.NewHostClient(conn),
		Pact:   openpactv1.NewPactClient(conn),
		Events: openpactv1.NewEventsClient(conn),
		conn:   conn,
		socket: socket,
		pact:   cfg.pact,
	}
	if _, err := c.Ping(ctx); err != nil {
		_ = conn.Close()
		return nil, err
	}
	return c, nil
}

// Close closes the connection (shared with every client ForPact returned).
func (c *Client) Close() error { return c.conn.Close() }

// Conn returns the underlying gRPC connection.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Socket returns the socket path the client dialled.
func (c *Client) Socket() string { return c.socket }

// DefaultPact returns the pact per-pact methods act on ("" means the daemon's current pact).
func (c *Client) DefaultPact() string { return c.pact }

// ForPact returns a client acting on another pact (alias or 64-hex id; "" for the daemon's
// current pact). It shares the connection: closing either closes both.
func (c *Client) ForPact(aliasOrID string) *Client {
	cp := *c
	cp.pact = aliasOrID
	return &cp
}
