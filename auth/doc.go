// Package auth manages the permissions of a waymaker server that enforces
// authentication: roles (named sets of grants) and the identities bound to
// them. It is reached as client.Auth().
//
// A grant is "subsystem:pattern:action". The subsystem is one of kv, lock,
// stream, collections, sketch, objstore, cache, cluster, auth, or "*"; the
// pattern matches resource names (a bucket, a lock key, a stream, a store,
// a sketch, a role or an identity), '*' matching any run of characters;
// the action is read, write or admin, and admin implies write, which
// implies read. Creating, updating and deleting buckets, streams,
// consumers, stores, sketches and cache policies, and changing cluster
// membership, need admin.
//
//	err := client.Auth().PutRole(ctx, auth.Role{Name: "orders-writer", Grants: []string{"kv:orders-*:write", "stream:events:read"}})
//	err = client.Auth().SetUserRoles(ctx, "svc-orders", "orders-writer")
//	me, err := client.Auth().WhoAmI(ctx)
//
// An identity is a user of the server's tokens file (the client connects
// with waymaker.WithToken) or a client certificate's identity: its first
// URI SAN, else its Subject CommonName. A call without valid credentials
// fails with waymaker.ErrUnauthenticated, a forbidden one with
// waymaker.ErrPermissionDenied, whose message names the subsystem, the
// resource and the action. The permission data is replicated: a change
// applies on every node once it has applied the change's log entry.
package auth
