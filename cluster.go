package waymaker

import (
	"context"

	"git.awesomike.com/pub/waymaker-client/go/cluster"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Cluster returns the cluster administration client: members, leader,
// membership changes. It is a cheap handle and touches no network.
func (c *Client) Cluster() *cluster.Client { return cluster.New(c.conn) }

// StaleRead returns a context under which reads may be answered from the
// local state of whichever node they reach, without confirming it is
// current (transport.StaleRead). Reads are linearizable by default.
func StaleRead(ctx context.Context) context.Context { return transport.StaleRead(ctx) }
