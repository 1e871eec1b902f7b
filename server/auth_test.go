package server

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"

	"git.awesomike.com/pub/waymaker-client/go/server/internal/auth"
)

// subsystemWide lists the methods whose rule names no resource on
// purpose; any other rule without Names is a mistake.
var subsystemWide = []string{
	"/waymaker.v1.LockService/Watch", "/waymaker.v1.LockService/Renew", "/waymaker.v1.LockService/Release",
	"/waymaker.v1.ClusterService/Status", "/waymaker.v1.ClusterService/TransferLeadership",
}

// Every method of every service the server registers has a permission
// rule, and every field path a rule names exists in the method's messages
// (a renamed field must not turn a check off). A method without a rule is
// refused at run time; this catches it before.
func TestAuthRulesCoverEveryMethod(t *testing.T) {
	s, err := Open(Config{Auth: AuthConfig{Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.ops.stop(); _ = s.node.Shutdown() })
	registered := map[string]bool{}
	for svc, info := range s.grpc.GetServiceInfo() {
		for _, mi := range info.Methods {
			full := "/" + svc + "/" + mi.Name
			registered[full] = true
			rule, ok := auth.Rules[full]
			if !ok {
				t.Errorf("%s has no permission rule (server/internal/auth/rules.go)", full)
				continue
			}
			if rule.Open || rule.AnyIdentity || rule.NodeOnly {
				continue
			}
			if !slices.Contains(auth.Subsystems, rule.Sub) {
				t.Errorf("%s: rule names unknown subsystem %q", full, rule.Sub)
			}
			if rule.Action == auth.ActionNone {
				t.Errorf("%s: rule has no action", full)
			}
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc + "." + mi.Name))
			if err != nil {
				t.Errorf("%s: %v", full, err)
				continue
			}
			md := d.(protoreflect.MethodDescriptor)
			if len(rule.Names) == 0 && rule.List == "" && !slices.Contains(subsystemWide, full) {
				t.Errorf("%s: rule names no resource field", full)
			}
			for _, p := range slices.Concat(rule.Names, rule.Reads) {
				if !auth.HasPath(md.Input(), p) {
					t.Errorf("%s: %s has no string field %q", full, md.Input().FullName(), p)
				}
			}
			if rule.Delegates != "" && !auth.HasPath(md.Input(), rule.Delegates) {
				t.Errorf("%s: %s has no string field %q", full, md.Input().FullName(), rule.Delegates)
			}
			if rule.WriteIf != "" && !auth.HasPath(md.Input(), rule.WriteIf) {
				t.Errorf("%s: %s has no string field %q", full, md.Input().FullName(), rule.WriteIf)
			}
			if rule.List != "" {
				f := md.Output().Fields().ByName(protoreflect.Name(rule.List))
				if f == nil || !f.IsList() || f.Message() == nil || !auth.HasPath(f.Message(), rule.ItemName) {
					t.Errorf("%s: %s has no list %q of items with %q", full, md.Output().FullName(), rule.List, rule.ItemName)
				}
			}
			// A read (NO_SIDE_EFFECTS) needs read; anything else more,
			// but for consuming, which is reading the stream.
			opts, _ := md.Options().(*descriptorpb.MethodOptions)
			isRead := opts.GetIdempotencyLevel() == descriptorpb.MethodOptions_NO_SIDE_EFFECTS
			consuming := slices.Contains([]string{"Consume", "Fetch", "Ack"}, mi.Name) || rule.WriteIf != ""
			if isRead && rule.Action != auth.ActionRead || !isRead && !consuming && rule.Action == auth.ActionRead {
				t.Errorf("%s: a %s needs %s", full, map[bool]string{true: "read", false: "write"}[isRead], rule.Action)
			}
		}
	}
	for full := range auth.Rules {
		if strings.HasPrefix(full, "/waymaker.") && !registered[full] {
			t.Errorf("rule for %s, which the server does not register", full)
		}
	}
	if len(registered) < 150 {
		t.Fatalf("only %d methods registered; are the services wired?", len(registered))
	}
}

// Creating, updating and deleting resources and membership changes need
// admin: every Create*/Update*/Delete* of a container, Revoke, the
// membership calls and the auth mutations.
func TestAuthAdminForCreateAndDelete(t *testing.T) {
	for full, rule := range auth.Rules {
		m := full[strings.LastIndexByte(full, '/')+1:]
		container := strings.HasPrefix(m, "Create") || strings.HasPrefix(m, "Delete") || strings.HasPrefix(m, "Update")
		// Deletes and updates of an entry (a key, a message, an object's
		// metadata) are writes; of a container, admin.
		entry := map[string]bool{"Create": true, "Delete": true, "Update": true, "DeleteMsg": true, "DeleteKeys": true, "UpdateMeta": true}
		if rule.Sub != "" && container && !entry[m] && rule.Action != auth.ActionAdmin {
			t.Errorf("%s: %s, want admin", full, rule.Action)
		}
	}
	for _, m := range []string{"ClusterService/AddVoter", "ClusterService/AddNonvoter", "ClusterService/RemoveServer", "ClusterService/TransferLeadership", "LockService/Revoke", "AuthService/PutRole", "AuthService/SetUserRoles"} {
		if r := auth.Rules["/waymaker.v1."+m]; r.Action != auth.ActionAdmin {
			t.Errorf("%s: %s, want admin", m, r.Action)
		}
	}
}

func TestAuthConfigValidation(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("tokens", "# users\nalice: "+HashToken("secret-a")+"\n")
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"missing tokens file", Config{Auth: AuthConfig{TokensFile: filepath.Join(dir, "none")}}, "TokensFile"},
		{"plaintext token", Config{Auth: AuthConfig{TokensFile: write("t1", "alice: secret-a\n")}}, "line 1: the hash must start with sha256:"},
		{"short hash", Config{Auth: AuthConfig{TokensFile: write("t2", "alice: sha256:abcd\n")}}, "line 1: want 64 hex digits"},
		{"no user", Config{Auth: AuthConfig{TokensFile: write("t3", "\n: "+HashToken("x")+"\n")}}, "line 2"},
		{"bad bootstrap json", Config{Auth: AuthConfig{BootstrapFile: write("b1", "{roles: 1}")}}, "BootstrapFile"},
		{"bootstrap bad grant", Config{Auth: AuthConfig{BootstrapFile: write("b2", `{"roles": {"r": ["kv:*:root"]}}`)}}, "unknown action"},
		{"bootstrap unknown role", Config{Auth: AuthConfig{BootstrapFile: write("b3", `{"roles": {"r": ["kv:*:read"]}, "users": {"u": ["x"]}}`)}}, `role "x" does not exist`},
		{"bootstrap unknown field", Config{Auth: AuthConfig{BootstrapFile: write("b4", `{"role": {}}`)}}, "unknown field"},
		{"cluster without node token", Config{RaftListen: "127.0.0.1:0", Auth: AuthConfig{TokensFile: good}}, "NodeToken"},
		{"short node token", Config{Auth: AuthConfig{TokensFile: good, NodeToken: "short"}}, "NodeToken"},
	} {
		s, err := Open(tc.cfg)
		if err == nil {
			s.ops.stop()
			_ = s.node.Shutdown()
			t.Errorf("%s: Open succeeded", tc.name)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want it to say %q", tc.name, err, tc.want)
		}
		if strings.Contains(err.Error(), "secret-a") {
			t.Errorf("%s: the error quotes a token: %v", tc.name, err)
		}
	}
}
