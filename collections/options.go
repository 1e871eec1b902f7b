package collections

import pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"

// ScanOptions shape a scan (HSCAN, SSCAN, SCAN). Zero values: every item,
// pages of 100.
type ScanOptions struct {
	// Match is a Redis MATCH glob: * ? [abc] [^a-z], \ escapes. Empty: all.
	// The server bounds its length (MaxPatternLen, 1024 bytes by default)
	// and refuses an unclosed '[' or a trailing '\'.
	Match string
	// Count is how many items a page holds at most; 0 takes 100. As in
	// Redis, Match filters the items a page examined, so with Match a page
	// may hold fewer, even none, and still have a next cursor; a page also
	// stops short to stay under the response size limit.
	Count int
}

// ExpireCondition restricts Expire, as Redis' HEXPIRE NX/XX/GT/LT.
type ExpireCondition int

const (
	// ExpireAlways sets the TTL unconditionally.
	ExpireAlways ExpireCondition = iota
	// ExpireNX sets it only on fields with no TTL.
	ExpireNX
	// ExpireXX sets it only on fields that have a TTL.
	ExpireXX
	// ExpireGT sets it only when it is later than the current one (no TTL
	// counts as infinite, so never).
	ExpireGT
	// ExpireLT sets it only when it is earlier than the current one (no TTL
	// counts as infinite, so always).
	ExpireLT
)

// ExpireResult is what Expire or Persist did to one field, as HEXPIRE's
// reply codes.
type ExpireResult int

const (
	// ExpireNoField: the field (or the key) does not exist (HEXPIRE -2).
	ExpireNoField ExpireResult = -2
	// ExpireNotMet: the condition was not met, or for Persist, the field had
	// no TTL (HEXPIRE 0, HPERSIST -1).
	ExpireNotMet ExpireResult = 0
	// ExpireSet: the TTL was set, or for Persist removed (1).
	ExpireSet ExpireResult = 1
	// ExpireDeleted: the TTL was 0, so the field was deleted (2).
	ExpireDeleted ExpireResult = 2
)

func expireResult(o pb.HashExpireOutcome) ExpireResult {
	switch o {
	case pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_SET:
		return ExpireSet
	case pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_NO_FIELD:
		return ExpireNoField
	case pb.HashExpireOutcome_HASH_EXPIRE_OUTCOME_DELETED:
		return ExpireDeleted
	}
	return ExpireNotMet
}

// TTL answers for a field with no TTL and for a missing field, as HPTTL's -1
// and -2.
const (
	TTLNone    = -1
	TTLMissing = -2
)
