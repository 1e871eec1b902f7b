package transport

// MaxNameLen is the longest resource name (bucket, stream, store, sketch,
// queue) a server accepts by default.
const MaxNameLen = 256

// CheckName applies the one rule every subsystem's resource names follow:
// 1 to MaxNameLen bytes of [A-Za-z0-9_-]. A violation is a KindInvalid
// *Error naming field, so the call fails before anything is sent.
func CheckName(field, name string) error {
	if name == "" {
		return Invalid(field, "must not be empty")
	}
	if len(name) > MaxNameLen {
		return Invalid(field, "is %d bytes, limit %d", len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return Invalid(field, "%q: only [A-Za-z0-9_-] are allowed (byte %d)", name, i)
		}
	}
	return nil
}
