package api

import "git.awesomike.com/pub/waymaker-client/go/server/internal/pagetoken"

// Every list RPC's page token is opaque and checksummed (see package
// pagetoken): a handler decodes the request's token with PageToken and
// makes the response's with NextPageToken, both with the listing's scope,
// one of these. A token that is not one the same listing handed out is
// refused with invalid_argument naming page_token.
const (
	ScopeKVBuckets         = "kv.ListBuckets"
	ScopeStreams           = "stream.ListStreams"
	ScopeCollectionsStores = "collections.ListStores"
	ScopeSketches          = "sketch.ListSketches"
	ScopeCachePolicies     = "cache.ListPolicies"
	ScopeObjectStores      = "objstore.ListStores"
	ScopeLocks             = "lock.List"
	scopeConsumersPrefix   = "stream.ListConsumers:"
)

// ScopeConsumers is ListConsumers' scope: a token fits only the stream it
// listed.
func ScopeConsumers(stream string) string { return scopeConsumersPrefix + stream }

// PageToken returns the position (the last name of the previous page) that
// token resumes the listing scope after, "" for an empty token. A token
// this server did not hand out for scope fails the check, naming field.
func (v *Validator) PageToken(field, scope, token string) string {
	pos, err := pagetoken.Decode(scope, token)
	v.Check(err == nil, field, "not a page token this server answered for this listing; pass next_page_token of the previous page unchanged, or empty to start")
	return pos
}

// NextPageToken is the page token resuming the listing scope after last,
// or "" when last is "" (no further page).
func NextPageToken(scope, last string) string { return pagetoken.Encode(scope, last) }
