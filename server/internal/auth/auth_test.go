package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/authpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/kvpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/sketchpb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything", true},
		{"*", "", true},
		{"orders-*", "orders-1", true},
		{"orders-*", "orders-", true},
		{"orders-*", "order-1", false},
		{"orders", "orders", true},
		{"orders", "orders2", false},
		{"leader:*", "leader:shard1", true},
		{"leader:*", "follower:shard1", false},
		{"*-eu-*", "orders-eu-1", true},
		{"*-eu-*", "orders-us-1", false},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbYcZ", false},
		{"a*a*a", "aaaa", true},
		{"*x", "yyyyx", true},
	} {
		if got := Match(tc.pattern, tc.name); got != tc.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestParseGrant(t *testing.T) {
	g, err := ParseGrant("lock:leader:*:write")
	if err != nil || g != (Grant{Subsystem: "lock", Pattern: "leader:*", Action: ActionWrite}) {
		t.Fatalf("lock:leader:*:write: %+v %v", g, err)
	}
	if g.String() != "lock:leader:*:write" {
		t.Fatalf("String: %s", g)
	}
	for in, want := range map[string]string{
		"kv:orders":   "want subsystem:pattern:action",
		"kv":          "want subsystem:pattern:action",
		"kv::read":    "empty pattern",
		"kvv:x:read":  "unknown subsystem",
		"kv:x:delete": "unknown action",
		"kv:x:":       "unknown action",
		"kv:" + strings.Repeat("a", MaxPatternLen+1) + ":read": "limit",
		"kv:a\x01:read": "control character",
	} {
		if _, err := ParseGrant(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseGrant(%q): %v, want %q", in, err, want)
		}
	}
}

// Admin implies write implies read; a grant is for one subsystem (or *).
func TestGrantAllows(t *testing.T) {
	g := Grant{Subsystem: "kv", Pattern: "orders-*", Action: ActionWrite}
	for _, tc := range []struct {
		sub, name string
		a         Action
		want      bool
	}{
		{"kv", "orders-1", ActionRead, true},
		{"kv", "orders-1", ActionWrite, true},
		{"kv", "orders-1", ActionAdmin, false},
		{"kv", "other", ActionRead, false},
		{"stream", "orders-1", ActionRead, false},
		{"kv", "", ActionWrite, true}, // the subsystem as a whole: some grant of the action
	} {
		if got := g.Allows(tc.sub, tc.name, tc.a); got != tc.want {
			t.Errorf("%s allows %s %s %q = %v, want %v", g, tc.a, tc.sub, tc.name, got, tc.want)
		}
	}
	star := Grant{Subsystem: "*", Pattern: "*", Action: ActionAdmin}
	if !star.Allows("cluster", "n1", ActionAdmin) || !star.Allows("auth", "x", ActionRead) {
		t.Fatal("*:*:admin must allow everything")
	}
}

func apply(t *testing.T, m *Machine, op uint16, msg proto.Message) string {
	t.Helper()
	b, err := proto.Marshal(msg)
	if err != nil {
		t.Fatal(err)
	}
	out := m.Apply(fsm.Command{Subsystem: Name, Op: op, Payload: b})
	r, ok := out.(interface{ GetResult() *commonpb.Result })
	if !ok {
		t.Fatalf("apply answered %T %v", out, out)
	}
	return r.GetResult().GetResultCode() + r.GetResult().GetMessage()
}

func putRole(name string, grants ...string) *authpb.AuthServicePutRoleRequest {
	return &authpb.AuthServicePutRoleRequest{Role: &authpb.AuthRole{Name: name, Grants: grants}}
}

func TestMachineRolesAndBindings(t *testing.T) {
	m := New()
	if !m.Empty() {
		t.Fatal("a new machine is not empty")
	}
	if r := apply(t, m, OpPutRole, putRole("orders", "kv:orders-*:write", "stream:events:read")); r != "" {
		t.Fatal(r)
	}
	if r := apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "app", Roles: []string{"orders", "orders"}}); r != "" {
		t.Fatal(r)
	}
	if !m.Allowed("app", "kv", "orders-1", ActionWrite) || m.Allowed("app", "kv", "orders-1", ActionAdmin) || m.Allowed("app", "kv", "x", ActionRead) {
		t.Fatal("grants not applied as given")
	}
	if !m.Allowed("app", "stream", "events", ActionRead) || m.Allowed("app", "stream", "events", ActionWrite) {
		t.Fatal("stream grant")
	}
	if m.Allowed("someone", "kv", "orders-1", ActionRead) {
		t.Fatal("an unbound identity is allowed")
	}
	// Replacing a role changes what its users may do at once.
	apply(t, m, OpPutRole, putRole("orders", "kv:orders-*:read"))
	if m.Allowed("app", "kv", "orders-1", ActionWrite) || !m.Allowed("app", "kv", "orders-1", ActionRead) {
		t.Fatal("the replaced role still grants write")
	}
	// Bad input changes nothing.
	before := m.State()
	for _, tc := range []struct {
		op   uint16
		msg  proto.Message
		want string
	}{
		{OpPutRole, putRole("orders", "kv:orders-*:delete"), "invalid_argument"},
		{OpPutRole, putRole("orders"), "invalid_argument"},
		{OpPutRole, putRole("", "kv:*:read"), "invalid_argument"},
		{OpPutRole, &authpb.AuthServicePutRoleRequest{}, "invalid_argument"},
		{OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "app", Roles: []string{"nope"}}, "not_found"},
		{OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "@node", Roles: []string{"orders"}}, "invalid_argument"},
		{OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "", Roles: []string{"orders"}}, "invalid_argument"},
		{OpDeleteRole, &authpb.AuthServiceDeleteRoleRequest{Name: "nope"}, "not_found"},
		{OpBootstrap, &authpb.AuthState{Roles: []*authpb.AuthRole{{Name: "x", Grants: []string{"*:*:admin"}}}}, "exists"},
	} {
		if r := apply(t, m, tc.op, tc.msg); !strings.HasPrefix(r, tc.want) {
			t.Errorf("op %d %v: %q, want %s", tc.op, tc.msg, r, tc.want)
		}
	}
	if !proto.Equal(before, m.State()) {
		t.Fatalf("refused commands changed the state:\n%v\n%v", before, m.State())
	}
	if _, ok := m.Apply(fsm.Command{Op: 99}).(error); !ok {
		t.Fatal("an unknown op is not an error")
	}
	if _, ok := m.Apply(fsm.Command{Op: OpPutRole, Payload: []byte{0xff}}).(error); !ok {
		t.Fatal("a bad payload is not an error")
	}
	// Deleting a role unbinds it; an identity left with none is removed.
	if r := apply(t, m, OpDeleteRole, &authpb.AuthServiceDeleteRoleRequest{Name: "orders"}); r != "" {
		t.Fatal(r)
	}
	if m.Allowed("app", "kv", "orders-1", ActionRead) || len(m.State().GetUsers()) != 0 {
		t.Fatalf("deleted role still grants: %v", m.State())
	}
}

func TestMachineBootstrapOnceAndSnapshot(t *testing.T) {
	m := New()
	st := &authpb.AuthState{
		Roles: []*authpb.AuthRole{{Name: "admin", Grants: []string{"*:*:admin"}}, {Name: "r", Grants: []string{"kv:a*:read"}}},
		Users: []*authpb.AuthUser{{Identity: "root", Roles: []string{"admin"}}, {Identity: "spiffe://x/y", Roles: []string{"r"}}},
	}
	if r := apply(t, m, OpBootstrap, st); r != "" {
		t.Fatal(r)
	}
	if !m.Allowed("root", "cluster", "n1", ActionAdmin) || !m.Allowed("spiffe://x/y", "kv", "ab", ActionRead) {
		t.Fatal("bootstrap not applied")
	}
	write, err := m.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := write(&buf); err != nil {
		t.Fatal(err)
	}
	m2 := New()
	if err := m2.Restore(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(m.State(), m2.State()) || !m2.Allowed("root", "auth", "x", ActionAdmin) {
		t.Fatalf("restore: %v, want %v", m2.State(), m.State())
	}
	// An empty snapshot is the empty state; a corrupt one is an error.
	if err := m2.Restore(bytes.NewReader(nil)); err != nil || !m2.Empty() {
		t.Fatalf("empty restore: %v", err)
	}
	if err := m2.Restore(bytes.NewReader([]byte{0xff, 0xff})); err == nil {
		t.Fatal("a corrupt snapshot restored")
	}
	// Snapshots are deterministic: the same state gives the same bytes.
	write2, _ := m.Snapshot()
	var buf2 bytes.Buffer
	_ = write2(&buf2)
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Fatal("two snapshots of one state differ")
	}
}

func TestTokensParseAndReload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	if err := os.WriteFile(path, []byte("# comment\n\nalice: "+HashToken("tok-a")+"\nalice: "+HashToken("tok-a2")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	toks, err := LoadTokens(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	for tok, want := range map[string]bool{"tok-a": true, "tok-a2": true, "tok-b": false, "": false, strings.Repeat("x", MaxTokenLen+1): false} {
		if user, ok := toks.Lookup(tok); ok != want || ok && user != "alice" {
			t.Errorf("Lookup(%.10q) = %q %v", tok, user, ok)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); toks.Watch(ctx, 5*time.Millisecond) }()
	defer func() { cancel(); <-done }()

	reload := func(content string) {
		t.Helper()
		next := toks.Reloaded()
		// Replaced atomically, as the docs ask; a new size, so the change
		// is seen even within the file system's timestamp resolution.
		tmp := path + ".new"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		select {
		case <-next:
		case <-time.After(10 * time.Second):
			t.Fatal("the tokens file was not reloaded")
		}
	}
	reload("bob: " + HashToken("tok-b") + "\n")
	if _, ok := toks.Lookup("tok-a"); ok {
		t.Fatal("a removed token still works")
	}
	if u, ok := toks.Lookup("tok-b"); !ok || u != "bob" {
		t.Fatal("an added token does not work")
	}
	// A file that does not parse keeps the previous tokens.
	reload("bob: tok-b-in-the-clear\n# more to change the size\n")
	if u, ok := toks.Lookup("tok-b"); !ok || u != "bob" {
		t.Fatal("a broken tokens file dropped the previous tokens")
	}
}

func TestParseTokensErrors(t *testing.T) {
	h := HashToken("t")
	for in, want := range map[string]string{
		"alice " + h:                 "line 1",
		"alice: " + h[:20]:           "64 hex",
		"alice: md5:abc":             "sha256:",
		"@node: " + h:                "reserved",
		"a b: " + h:                  "whitespace",
		"a: " + h + "\nb: " + h:      "another user",
		"\n\n# c\nalice: not-a-hash": "line 4",
		"# only a comment\n":         "no token",
	} {
		_, err := ParseTokens([]byte(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseTokens(%q): %v, want %q", in, err, want)
		}
	}
}

func TestIdentify(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tokens")
	_ = os.WriteFile(path, []byte("alice: "+HashToken("tok-a")+"\n"), 0o600)
	toks, err := LoadTokens(path, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	a := &Authorizer{M: New(), Tokens: toks, NodeToken: "node-secret-0123456789"}
	in := func(kv ...string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(kv...))
	}
	for _, tc := range []struct {
		ctx      context.Context
		name     string
		code     codes.Code
		contains string
	}{
		{in("authorization", "Bearer tok-a"), "alice", codes.OK, ""},
		{in("authorization", "bearer tok-a"), "alice", codes.OK, ""},
		{in("authorization", "Bearer tok-x"), "", codes.Unauthenticated, "invalid bearer token"},
		{in("authorization", "Basic abc"), "", codes.Unauthenticated, "malformed"},
		{in("authorization", "Bearer "), "", codes.Unauthenticated, "malformed"},
		{in(), "", codes.Unauthenticated, "no credentials"},
		// A client cannot claim a forwarded identity without the node token.
		{in(ForwardedIdentityKey, "root", "authorization", "Bearer tok-a"), "alice", codes.OK, ""},
		{in(NodeTokenKey, "wrong", ForwardedIdentityKey, "root"), "", codes.Unauthenticated, "node token"},
		{in(NodeTokenKey, "node-secret-0123456789", ForwardedIdentityKey, "root", ForwardedMethodKey, "certificate"), "root", codes.OK, ""},
		{in(NodeTokenKey, "node-secret-0123456789"), NodeIdentity, codes.OK, ""},
	} {
		id, err := a.Identify(tc.ctx)
		if status.Code(err) != tc.code || id.Name != tc.name || tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
			t.Errorf("%v: %+v %v, want %q %v %q", tc.ctx, id, err, tc.name, tc.code, tc.contains)
		}
		if err != nil && strings.Contains(err.Error(), "tok-") {
			t.Errorf("the error quotes the token: %v", err)
		}
	}
}

func TestCertIdentity(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/svc/orders")
	if got := CertIdentity(&x509.Certificate{URIs: []*url.URL{u}, Subject: pkix.Name{CommonName: "cn"}}); got != u.String() {
		t.Fatalf("with a URI SAN: %q", got)
	}
	if got := CertIdentity(&x509.Certificate{Subject: pkix.Name{CommonName: "svc-orders"}}); got != "svc-orders" {
		t.Fatalf("CommonName: %q", got)
	}
}

func TestAuthorize(t *testing.T) {
	m := New()
	apply(t, m, OpPutRole, putRole("r", "kv:orders-*:write", "stream:events:write", "sketch:hll-*:write", "sketch:src-*:read"))
	apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "app", Roles: []string{"r"}})
	a := &Authorizer{M: m, Streams: func(subject string) []string {
		if strings.HasPrefix(subject, "events.") {
			return []string{"events"}
		}
		if strings.HasPrefix(subject, "audit.") {
			return []string{"audit"}
		}
		return nil
	}}
	app := Identity{Name: "app", Method: "token"}
	rule := func(m string) Rule { return Rules[m] }
	for _, tc := range []struct {
		method string
		msg    proto.Message
		ok     bool
		names  []string
	}{
		{"/waymaker.v1.KVService/Put", &kvpb.KVServicePutRequest{Bucket: "orders-1"}, true, nil},
		{"/waymaker.v1.KVService/Put", &kvpb.KVServicePutRequest{Bucket: "x"}, false, []string{`kv "x"`, "write", "kv:x:write", "KVService/Put"}},
		{"/waymaker.v1.KVService/CreateBucket", &kvpb.KVServiceCreateBucketRequest{Config: &kvpb.KVBucketConfig{Name: "orders-1"}}, false, []string{"admin"}},
		{"/waymaker.v1.StreamService/Publish", &streampb.StreamServicePublishRequest{Message: &streampb.StreamPublishMessage{Subject: "events.a"}}, true, nil},
		{"/waymaker.v1.StreamService/Publish", &streampb.StreamServicePublishRequest{Message: &streampb.StreamPublishMessage{Subject: "audit.a"}}, false, []string{`stream "audit"`}},
		{"/waymaker.v1.StreamService/PublishBatch", &streampb.StreamServicePublishBatchRequest{Messages: []*streampb.StreamPublishMessage{{Subject: "events.a"}, {Subject: "audit.b"}}}, false, []string{"audit"}},
		{"/waymaker.v1.SketchService/HLLMerge", &sketchpb.SketchServiceHLLMergeRequest{Name: "hll-1", Sources: []string{"src-1", "hll-2"}}, true, nil},
		{"/waymaker.v1.SketchService/HLLMerge", &sketchpb.SketchServiceHLLMergeRequest{Name: "hll-1", Sources: []string{"secret"}}, false, []string{`"secret"`, "read"}},
		{"/waymaker.v1.AuthService/WhoAmI", &authpb.AuthServiceWhoAmIRequest{}, true, nil},
		{"/waymaker.v1.ClusterService/Announce", nil, false, []string{"nodes"}},
		{"/waymaker.v1.LockService/Renew", nil, false, []string{"lock (any resource)"}},
	} {
		err := a.Authorize(app, tc.method, rule(tc.method), tc.msg)
		if (err == nil) != tc.ok {
			t.Errorf("%s %v: %v, want ok=%v", tc.method, tc.msg, err, tc.ok)
			continue
		}
		if err != nil && status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s: code %v", tc.method, status.Code(err))
		}
		for _, n := range tc.names {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s: %v does not name %q", tc.method, err, n)
			}
		}
	}
	// The node itself may do anything.
	if err := a.Authorize(Identity{Name: NodeIdentity, Method: "node"}, "/waymaker.v1.ClusterService/Announce", rule("/waymaker.v1.ClusterService/Announce"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestFilterList(t *testing.T) {
	resp := &kvpb.KVServiceListBucketsResponse{Buckets: []*kvpb.KVBucketInfo{
		{Config: &kvpb.KVBucketConfig{Name: "orders-1"}}, {Config: &kvpb.KVBucketConfig{Name: "x"}}, {Config: &kvpb.KVBucketConfig{Name: "orders-2"}},
	}}
	Rules["/waymaker.v1.KVService/ListBuckets"].FilterList(resp, func(n string) bool { return strings.HasPrefix(n, "orders-") })
	if len(resp.Buckets) != 2 || resp.Buckets[0].Config.Name != "orders-1" || resp.Buckets[1].Config.Name != "orders-2" {
		t.Fatalf("filtered: %v", resp.Buckets)
	}
}

// No call leaves the data without an identity that manages it, once
// there was one.
func TestMachineKeepsAnAdmin(t *testing.T) {
	m := New()
	apply(t, m, OpBootstrap, &authpb.AuthState{
		Roles: []*authpb.AuthRole{{Name: "admin", Grants: []string{"*:*:admin"}}, {Name: "r", Grants: []string{"kv:*:read"}}},
		Users: []*authpb.AuthUser{{Identity: "root", Roles: []string{"admin"}}},
	})
	before := m.State()
	for _, tc := range []struct {
		op  uint16
		msg proto.Message
	}{
		{OpDeleteRole, &authpb.AuthServiceDeleteRoleRequest{Name: "admin"}},
		{OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "root"}},
		{OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "root", Roles: []string{"r"}}},
		{OpPutRole, putRole("admin", "auth:team-*:admin", "kv:*:admin")},
	} {
		if r := apply(t, m, tc.op, tc.msg); !strings.HasPrefix(r, "invalid_argument") || !strings.Contains(r, "auth:*") {
			t.Errorf("op %d %v: %q, want a refusal naming auth:*", tc.op, tc.msg, r)
		}
	}
	if !proto.Equal(before, m.State()) || !m.Allowed("root", "auth", "x", ActionAdmin) {
		t.Fatalf("a refused lockout changed the state: %v", m.State())
	}
	// With a second administrator, the first may go.
	if r := apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "root2", Roles: []string{"admin"}}); r != "" {
		t.Fatal(r)
	}
	if r := apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "root"}); r != "" {
		t.Fatal(r)
	}
	if m.Allowed("root", "kv", "x", ActionRead) || !m.Allowed("root2", "auth", "x", ActionAdmin) {
		t.Fatal("the handover did not apply")
	}
}

// Binding a role needs admin on the identity and on the role: admin over
// some identities does not hand out every role.
func TestAuthorizeBinding(t *testing.T) {
	m := New()
	apply(t, m, OpPutRole, putRole("team-lead", "auth:team-*:admin"))
	apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "lead", Roles: []string{"team-lead"}})
	a := &Authorizer{M: m}
	lead := Identity{Name: "lead", Method: "token"}
	const method = "/waymaker.v1.AuthService/SetUserRoles"
	if err := a.Authorize(lead, method, Rules[method], &authpb.AuthServiceSetUserRolesRequest{Identity: "team-a", Roles: []string{"team-reader"}}); err != nil {
		t.Fatal(err)
	}
	err := a.Authorize(lead, method, Rules[method], &authpb.AuthServiceSetUserRolesRequest{Identity: "team-a", Roles: []string{"admin"}})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `auth "admin"`) {
		t.Fatalf("binding the admin role: %v", err)
	}
}

// A role's manager hands out only what it holds itself.
func TestAuthorizeDelegation(t *testing.T) {
	m := New()
	apply(t, m, OpPutRole, putRole("team-lead", "auth:team-*:admin", "kv:orders-*:write"))
	apply(t, m, OpSetUserRoles, &authpb.AuthServiceSetUserRolesRequest{Identity: "lead", Roles: []string{"team-lead"}})
	a := &Authorizer{M: m}
	lead := Identity{Name: "lead", Method: "token"}
	const method = "/waymaker.v1.AuthService/PutRole"
	for grant, ok := range map[string]bool{
		"kv:orders-eu-*:read":  true,
		"kv:orders-*:write":    true,
		"kv:orders-1:write":    true,
		"auth:team-x:read":     true,
		"kv:*:read":            false,
		"kv:orders-*:admin":    false,
		"*:orders-*:read":      false,
		"stream:orders-*:read": false,
		"*:*:admin":            false,
	} {
		err := a.Authorize(lead, method, Rules[method], &authpb.AuthServicePutRoleRequest{Role: &authpb.AuthRole{Name: "team-x", Grants: []string{grant}}})
		if (err == nil) != ok {
			t.Errorf("lead puts %s: %v, want allowed=%v", grant, err, ok)
		}
		if err != nil && (status.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), grant)) {
			t.Errorf("lead puts %s: %v, want PermissionDenied naming it", grant, err)
		}
	}
}
