package result

import "git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"

// CheckName is the one rule of every resource name on the server (a KV
// bucket, stream, consumer, collections store, sketch, object store):
// 1 to max bytes of [A-Za-z0-9_-]. It answers the invalid_argument Result
// naming field, or nil, with the messages transport.CheckName gives on
// the client (name_test.go checks they agree).
func CheckName(field, name string, max int) *commonpb.Result {
	if name == "" {
		return Invalid(field, "must not be empty")
	}
	if len(name) > max {
		return Invalidf(field, "is %d bytes, limit %d", len(name), max)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Invalidf(field, "%q: only [A-Za-z0-9_-] are allowed (byte %d)", name, i)
		}
	}
	return nil
}
