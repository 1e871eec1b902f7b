package auth

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Rule says what a method needs: the action on which resources of which
// subsystem. Every method the server registers has one (Rules; a test
// walks the registered services and fails on a method without a rule),
// and a method without a rule is refused, so a new method cannot slip
// past the check.
type Rule struct {
	// Open: served without authentication (health, reflection, the read
	// barrier between nodes).
	Open bool
	// AnyIdentity: any authenticated caller (WhoAmI).
	AnyIdentity bool
	// NodeOnly: only the server's own nodes (they present the node token).
	NodeOnly bool

	// Sub is the subsystem the resources belong to.
	Sub string
	// Action is what the call needs on each resource named by Names.
	Action Action
	// Names are the request's fields naming the resources, as dotted paths
	// ("bucket", "config.name", "messages.subject"); a repeated field names
	// one resource per element. With none, the call concerns the subsystem
	// as a whole: any grant of Action on the subsystem allows it (a list,
	// or a lease call whose lease id and request id are the capability).
	Names []string
	// Reads are further fields naming resources the call only reads (a
	// merge's sources), checked for read.
	Reads []string
	// WriteIf names a field that, when set, makes the call a write (a set
	// intersection stored into a destination).
	WriteIf string
	// Subjects: Names are stream subjects; each is checked on every stream
	// that binds it.
	Subjects bool
	// List and ItemName: the response's repeated field and each item's
	// name path; items the caller may not read are removed from the answer.
	List, ItemName string
	// FirstOnly: on a client stream, only the first message names the
	// resource (an object upload's header); later messages ride on it.
	FirstOnly bool
	// Delegates names a field of grants the call hands out (a role's):
	// the caller must hold a grant covering each, so managing a role never
	// gives more than its manager has.
	Delegates string
}

func r(sub string, a Action, names ...string) Rule { return Rule{Sub: sub, Action: a, Names: names} }

func list(sub, field, item string) Rule {
	return Rule{Sub: sub, Action: ActionRead, List: field, ItemName: item}
}

// Rules maps every full gRPC method name to its rule.
var Rules = map[string]Rule{}

func add(svc string, m map[string]Rule) {
	for name, rule := range m {
		Rules["/"+svc+"/"+name] = rule
	}
}

func init() {
	const read, write, admin = ActionRead, ActionWrite, ActionAdmin
	add("grpc.health.v1.Health", map[string]Rule{"Check": {Open: true}, "Watch": {Open: true}, "List": {Open: true}})
	add("grpc.reflection.v1.ServerReflection", map[string]Rule{"ServerReflectionInfo": {Open: true}})
	add("grpc.reflection.v1alpha.ServerReflection", map[string]Rule{"ServerReflectionInfo": {Open: true}})

	// A session stream needs only an identity: each call it carries is
	// dispatched through the server's unary interceptors, this check among
	// them, under the call's own method (internal/session).
	add("waymaker.session.v1.SessionService", map[string]Rule{"Open": {AnyIdentity: true}, "Call": {AnyIdentity: true}, "Subscribe": {AnyIdentity: true}})
	add("waymaker.v1.AuthService", map[string]Rule{
		"PutRole":      {Sub: "auth", Action: admin, Names: []string{"role.name"}, Delegates: "role.grants"},
		"DeleteRole":   r("auth", admin, "name"),
		"ListRoles":    list("auth", "roles", "name"),
		"SetUserRoles": r("auth", admin, "identity", "roles"), // admin on the identity and on each role bound
		"ListUsers":    list("auth", "users", "identity"),
		"WhoAmI":       {AnyIdentity: true},
	})
	add("waymaker.v1.ClusterService", map[string]Rule{
		"Status":             r("cluster", read),
		"AddVoter":           r("cluster", admin, "id"),
		"AddNonvoter":        r("cluster", admin, "id"),
		"RemoveServer":       r("cluster", admin, "id"),
		"TransferLeadership": r("cluster", admin),
		// Between nodes: the leader's half of a follower's read barrier
		// (it answers only an index), and a node recording its address.
		"ReadIndex": {Open: true},
		"Announce":  {NodeOnly: true},
	})
	add("waymaker.v1.CacheService", map[string]Rule{
		"AttachPolicy": r("cache", admin, "policy.bucket"),
		"DetachPolicy": r("cache", admin, "bucket"),
		"GetPolicy":    r("cache", read, "bucket"),
		"ListPolicies": list("cache", "policies", "bucket"),
		"Stats":        r("cache", read, "bucket"),
	})
	add("waymaker.v1.KVService", map[string]Rule{
		"CreateBucket": r("kv", admin, "config.name"),
		"UpdateBucket": r("kv", admin, "config.name"),
		"DeleteBucket": r("kv", admin, "bucket"),
		"GetBucket":    r("kv", read, "bucket"),
		"ListBuckets":  list("kv", "buckets", "config.name"),
		"Put":          r("kv", write, "bucket"),
		"Create":       r("kv", write, "bucket"),
		"Update":       r("kv", write, "bucket"),
		"Delete":       r("kv", write, "bucket"),
		"Purge":        r("kv", write, "bucket"),
		"Get":          r("kv", read, "bucket"),
		"Keys":         r("kv", read, "bucket"),
		"History":      r("kv", read, "bucket"),
		"Watch":        r("kv", read, "bucket"),
	})
	add("waymaker.v1.LockService", map[string]Rule{
		"Acquire":         r("lock", write, "key"),
		"TryAcquire":      r("lock", write, "key"),
		"MultiAcquire":    r("lock", write, "keys"),
		"MultiTryAcquire": r("lock", write, "keys"),
		// A lease is named by its lease id and the request id that took it,
		// which only the acquirer (checked on its keys) knows.
		"Watch":   r("lock", read),
		"Renew":   r("lock", write),
		"Release": r("lock", write),
		"Inspect": r("lock", read, "key"),
		"List":    list("lock", "keys", "key"),
		"Revoke":  r("lock", admin, "key"),
		"Observe": r("lock", read, "key"),
	})
	add("waymaker.v1.StreamService", map[string]Rule{
		"CreateStream":         r("stream", admin, "config.name"),
		"UpdateStream":         r("stream", admin, "config.name"),
		"DeleteStream":         r("stream", admin, "stream"),
		"GetStream":            r("stream", read, "stream"),
		"ListStreams":          list("stream", "streams", "config.name"),
		"Publish":              {Sub: "stream", Action: write, Names: []string{"message.subject"}, Subjects: true},
		"PublishBatch":         {Sub: "stream", Action: write, Names: []string{"messages.subject"}, Subjects: true},
		"PublishStream":        {Sub: "stream", Action: write, Names: []string{"message.subject", "more.subject"}, Subjects: true},
		"Purge":                r("stream", write, "stream"),
		"DeleteMsg":            r("stream", write, "stream"),
		"GetMsg":               r("stream", read, "stream"),
		"GetLastMsgForSubject": r("stream", read, "stream"),
		"CreateConsumer":       r("stream", admin, "stream"),
		"UpdateConsumer":       r("stream", admin, "stream"),
		"DeleteConsumer":       r("stream", admin, "stream"),
		"GetConsumer":          r("stream", read, "stream"),
		"ListConsumers":        r("stream", read, "stream"),
		// Consuming (delivery, fetch, ack) is reading the stream.
		"Consume": r("stream", read, "stream"),
		"Fetch":   r("stream", read, "stream"),
		"Ack":     r("stream", read, "stream"),
	})
	add("waymaker.v1.ObjectStoreService", map[string]Rule{
		"CreateStore": r("objstore", admin, "config.name"),
		"UpdateStore": r("objstore", admin, "config.name"),
		"DeleteStore": r("objstore", admin, "store"),
		"GetStore":    r("objstore", read, "store"),
		"ListStores":  list("objstore", "stores", "config.name"),
		"Put":         {Sub: "objstore", Action: write, Names: []string{"header.store"}, FirstOnly: true},
		"UpdateMeta":  r("objstore", write, "store"),
		"Delete":      r("objstore", write, "store"),
		"Get":         r("objstore", read, "store"),
		"GetInfo":     r("objstore", read, "store"),
		"List":        r("objstore", read, "store"),
		"Watch":       r("objstore", read, "store"),
	})
	coll := map[string]Rule{
		"CreateStore": r("collections", admin, "config.name"),
		"DeleteStore": r("collections", admin, "store"),
		"GetStore":    r("collections", read, "store"),
		"ListStores":  list("collections", "stores", "config.name"),
		"ScanKeys":    r("collections", read, "store"),
		"DeleteKeys":  r("collections", write, "store"),
	}
	for _, m := range []string{"HSet", "HSetNX", "HDel", "HIncrBy", "HIncrByFloat", "HExpire", "HPersist", "SAdd", "SRem", "SPop", "SMove"} {
		coll[m] = r("collections", write, "store")
	}
	for _, m := range []string{"HGet", "HMGet", "HGetAll", "HExists", "HLen", "HKeys", "HVals", "HScan", "HTTL", "SIsMember", "SMIsMember", "SMembers", "SCard", "SRandMember", "SScan"} {
		coll[m] = r("collections", read, "store")
	}
	for _, m := range []string{"SInter", "SUnion", "SDiff"} {
		coll[m] = Rule{Sub: "collections", Action: read, Names: []string{"store"}, WriteIf: "destination"}
	}
	for _, m := range []string{"QueuePush", "QueuePop", "QueueAck", "QueueNack", "QueueExtendVisibility", "QueuePurge"} {
		coll[m] = r("collections", write, "queue")
	}
	coll["QueueLen"] = r("collections", read, "queue")
	coll["QueuePeek"] = r("collections", read, "queue")
	add("waymaker.v1.CollectionsService", coll)

	sk := map[string]Rule{
		"CreateSketch": r("sketch", admin, "config.name"),
		"DeleteSketch": r("sketch", admin, "name"),
		"GetSketch":    r("sketch", read, "name"),
		"ListSketches": list("sketch", "sketches", "config.name"),
		"HLLCount":     r("sketch", read, "name", "others"),
	}
	for _, m := range []string{"BloomAdd", "BloomMAdd", "HLLAdd", "CMSIncrBy", "TopKAdd", "TopKIncrBy", "TDigestAdd", "TDigestReset"} {
		sk[m] = r("sketch", write, "name")
	}
	for _, m := range []string{"HLLMerge", "CMSMerge", "TDigestMerge"} {
		sk[m] = Rule{Sub: "sketch", Action: write, Names: []string{"name"}, Reads: []string{"sources"}}
	}
	for _, m := range []string{"BloomExists", "BloomMExists", "BloomCard", "CMSQuery", "TopKQuery", "TopKList", "TDigestQuantile", "TDigestCDF", "TDigestRank", "TDigestRevRank", "TDigestByRank", "TDigestByRevRank", "TDigestTrimmedMean", "TDigestMin", "TDigestMax"} {
		sk[m] = r("sketch", read, "name")
	}
	add("waymaker.v1.SketchService", sk)
}

// Values returns the strings at path in msg ("a.b.c"; a repeated message
// or string field yields one value per element; unset fields yield none).
func Values(msg proto.Message, path string) []string {
	if msg == nil {
		return nil
	}
	var out []string
	walk(msg.ProtoReflect(), strings.Split(path, "."), &out)
	return out
}

func walk(m protoreflect.Message, path []string, out *[]string) {
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(path[0]))
	if fd == nil || !m.Has(fd) {
		return
	}
	v := m.Get(fd)
	last := len(path) == 1
	switch {
	case fd.IsList():
		l := v.List()
		for i := range l.Len() {
			if last {
				if fd.Kind() == protoreflect.StringKind {
					*out = append(*out, l.Get(i).String())
				}
			} else if fd.Message() != nil {
				walk(l.Get(i).Message(), path[1:], out)
			}
		}
	case last:
		if fd.Kind() == protoreflect.StringKind {
			*out = append(*out, v.String())
		}
	case fd.Message() != nil:
		walk(v.Message(), path[1:], out)
	}
}

// HasPath reports whether path names a string field (or a string inside
// messages) of the message type md: the rules' paths are checked against
// the protos in a test, so a renamed field cannot turn a check off.
func HasPath(md protoreflect.MessageDescriptor, path string) bool {
	segs := strings.Split(path, ".")
	for i, s := range segs {
		fd := md.Fields().ByName(protoreflect.Name(s))
		if fd == nil {
			return false
		}
		if i == len(segs)-1 {
			return fd.Kind() == protoreflect.StringKind
		}
		if fd.Message() == nil {
			return false
		}
		md = fd.Message()
	}
	return false
}

// FilterList removes the items of the rule's List field of resp whose
// name the caller may not read (may answers for one name).
func (r Rule) FilterList(resp proto.Message, may func(name string) bool) {
	if r.List == "" || resp == nil {
		return
	}
	m := resp.ProtoReflect()
	fd := m.Descriptor().Fields().ByName(protoreflect.Name(r.List))
	if fd == nil || !fd.IsList() || fd.Message() == nil || !m.Has(fd) {
		return
	}
	l := m.Mutable(fd).List()
	kept := 0
	for i := range l.Len() {
		item := l.Get(i)
		names := Values(item.Message().Interface(), r.ItemName)
		if len(names) == 1 && may(names[0]) {
			l.Set(kept, item)
			kept++
		}
	}
	l.Truncate(kept)
}
