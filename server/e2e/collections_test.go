package e2e

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/collections"
	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	"git.awesomike.com/pub/waymaker-client/go/server"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

type collResult = commonpb.Result

func collNaN() float64 { return math.NaN() }

// collMust returns v, or, when err is set, ends the test (through collCatch, which
// every test defers) naming the line that failed.
func collMust[T any](v T, err error) T {
	if err != nil {
		panic(collMustErr{err, collCaller()})
	}
	return v
}

// collAll gathers a listing (an iter.Seq2, as every List is).
func collAll[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func collMust2[A, B any](a A, b B, err error) (A, B) {
	if err != nil {
		panic(collMustErr{err, collCaller()})
	}
	return a, b
}

type collMustErr struct {
	err   error
	where string
}

func collCaller() string {
	_, file, line, _ := runtime.Caller(2)
	return fmt.Sprintf("%s:%d", filepath.Base(file), line)
}

// collCatch turns a collMust failure into t.Fatal.
func collCatch(t testing.TB) {
	if r := recover(); r != nil {
		if m, ok := r.(collMustErr); ok {
			t.Fatalf("%s: %v", m.where, m.err)
		}
		panic(r)
	}
}

func collWant(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("err = %v, want %v", err, target)
	}
}

// collWantInvalid asserts a client-side invalid error naming field.
func collWantInvalid(t testing.TB, err error, field string) {
	t.Helper()
	var werr *waymaker.Error
	if !errors.As(err, &werr) || werr.Kind != waymaker.KindInvalid || !strings.HasPrefix(werr.Message, field+":") {
		t.Fatalf("err = %v, want a client-side invalid error naming %q", err, field)
	}
}

// collEventually polls cond until it holds or d passes: for state that changes
// at a server tick, which nothing notifies a client of.
func collEventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		<-tick.C
	}
}

func TestCollectionsStores(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	cc := c.Collections()
	n := name(t)

	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h", Description: "users"}))
	if h.Name() != n+"_h" {
		t.Fatalf("Name = %q", h.Name())
	}
	// The same configuration again succeeds; another one is ErrExists.
	collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h", Description: "users"}))
	_, err := c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h", MaxBytes: 10})
	collWant(t, err, waymaker.ErrExists)
	_, err = c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: n + "_h"})
	collWant(t, err, waymaker.ErrExists)
	// GetOrCreate keeps an existing store's configuration.
	collMust(c.GetOrCreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h", MaxBytes: 10}))
	info := collMust(h.Info(ctx))
	if info.Kind != collections.KindHash || info.Description != "users" || info.Hash == nil || info.Hash.MaxValueSize != 1<<20 || info.Hash.MaxBytes != 0 || info.CreatedAt.IsZero() {
		t.Fatalf("Info = %+v (hash %+v)", info, info.Hash)
	}

	collMust(c.GetOrCreateSetStore(ctx, waymaker.SetStoreConfig{Name: n + "_s"}))
	collMust(c.GetOrCreateQueue(ctx, waymaker.QueueConfig{Name: n + "_dlq"}))
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_q", DeadLetterQueue: n + "_dlq", MaxReceiveCount: 3}))
	qi := collMust(q.Info(ctx))
	if qi.Queue == nil || qi.Queue.VisibilityTimeout != 30*time.Second || qi.Queue.DedupeWindow != 5*time.Minute || qi.Queue.MaxMessageSize != 256<<10 || qi.Queue.DeadLetterQueue != n+"_dlq" {
		t.Fatalf("queue defaults = %+v", qi.Queue)
	}

	// Opening: by kind.
	collMust(c.HashStore(ctx, n+"_h"))
	collMust(c.SetStore(ctx, n+"_s"))
	collMust(c.Queue(ctx, n+"_q"))
	_, err = c.SetStore(ctx, n+"_h")
	collWant(t, err, waymaker.ErrConflict)
	_, err = c.Queue(ctx, n+"_missing")
	collWant(t, err, waymaker.ErrNotFound)
	_, err = c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_q2", DeadLetterQueue: n + "_missing"})
	collWant(t, err, waymaker.ErrNotFound)
	_, err = c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_q2", DeadLetterQueue: n + "_h"})
	collWant(t, err, waymaker.ErrConflict)

	// Listing, by kind and all, in name order.
	names := func(infos []waymaker.CollectionStoreInfo) []string {
		var out []string
		for _, i := range infos {
			if strings.HasPrefix(i.Name, n) {
				out = append(out, i.Name)
			}
		}
		return out
	}
	if got := names(collMust(c.ListQueues(ctx))); !slices.Equal(got, []string{n + "_dlq", n + "_q"}) {
		t.Fatalf("ListQueues = %v", got)
	}
	if got := names(collMust(c.ListHashStores(ctx))); !slices.Equal(got, []string{n + "_h"}) {
		t.Fatalf("ListHashStores = %v", got)
	}
	if got := names(collMust(c.ListSetStores(ctx))); !slices.Equal(got, []string{n + "_s"}) {
		t.Fatalf("ListSetStores = %v", got)
	}
	if got := names(collMust(collAll(cc.List(ctx, collections.KindAny)))); !slices.Equal(got, []string{n + "_dlq", n + "_h", n + "_q", n + "_s"}) {
		t.Fatalf("ListStores = %v", got)
	}

	// Deleting: a dead-letter queue in use cannot go; the wrong kind is a
	// conflict; a deleted store is gone.
	collWant(t, c.DeleteQueue(ctx, n+"_dlq"), waymaker.ErrConflict)
	collWant(t, c.DeleteSetStore(ctx, n+"_h"), waymaker.ErrConflict)
	if err := c.DeleteQueue(ctx, n+"_q"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteQueue(ctx, n+"_dlq"); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteHashStore(ctx, n+"_h"); err != nil {
		t.Fatal(err)
	}
	if err := cc.DeleteStore(ctx, n+"_s"); err != nil {
		t.Fatal(err)
	}
	collWant(t, c.DeleteHashStore(ctx, n+"_h"), waymaker.ErrNotFound)
	_, err = h.Get(ctx, "k", "f")
	collWant(t, err, waymaker.ErrNotFound)
	if got := names(collMust(collAll(cc.List(ctx, collections.KindAny)))); len(got) != 0 {
		t.Fatalf("after delete: %v", got)
	}
}

func TestCollectionsHash(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: name(t)}))

	if n := collMust(h.Set(ctx, "u1", map[string][]byte{"name": []byte("Ada"), "lang": []byte("en")})); n != 2 {
		t.Fatalf("HSET new = %d, want 2", n)
	}
	if n := collMust(h.Set(ctx, "u1", map[string][]byte{"name": []byte("Ada L"), "born": []byte("1815")})); n != 1 {
		t.Fatalf("HSET one new = %d, want 1", n)
	}
	if v := collMust(h.Get(ctx, "u1", "name")); string(v) != "Ada L" {
		t.Fatalf("HGET = %q", v)
	}
	_, err := h.Get(ctx, "u1", "email")
	collWant(t, err, waymaker.ErrNotFound)
	_, err = h.Get(ctx, "nobody", "name")
	collWant(t, err, waymaker.ErrNotFound)

	if ok := collMust(h.SetNX(ctx, "u1", "name", []byte("x"))); ok {
		t.Fatal("HSETNX on an existing field set it")
	}
	if ok := collMust(h.SetNX(ctx, "u1", "email", []byte(""))); !ok {
		t.Fatal("HSETNX on a missing field did not set it")
	}
	if v := collMust(h.Get(ctx, "u1", "email")); len(v) != 0 {
		t.Fatalf("empty value = %q", v)
	}

	mv := collMust(h.MGet(ctx, "u1", "lang", "missing", "name"))
	if len(mv) != 3 || !mv[0].Found || string(mv[0].Value) != "en" || mv[1].Found || !mv[2].Found || string(mv[2].Value) != "Ada L" {
		t.Fatalf("HMGET = %+v", mv)
	}
	if mv := collMust(h.MGet(ctx, "nobody", "a", "b")); len(mv) != 2 || mv[0].Found || mv[1].Found {
		t.Fatalf("HMGET missing key = %+v", mv)
	}

	all := collMust(h.GetAll(ctx, "u1"))
	if len(all) != 4 || string(all["born"]) != "1815" {
		t.Fatalf("HGETALL = %v", all)
	}
	if all := collMust(h.GetAll(ctx, "nobody")); len(all) != 0 {
		t.Fatalf("HGETALL missing = %v", all)
	}
	if keys := collMust(h.Keys(ctx, "u1")); !slices.Equal(keys, []string{"born", "email", "lang", "name"}) {
		t.Fatalf("HKEYS = %v", keys)
	}
	if vals := collMust(h.Vals(ctx, "u1")); len(vals) != 4 || string(vals[0]) != "1815" || string(vals[3]) != "Ada L" {
		t.Fatalf("HVALS = %q", vals)
	}
	if n := collMust(h.Len(ctx, "u1")); n != 4 {
		t.Fatalf("HLEN = %d", n)
	}
	if n := collMust(h.Len(ctx, "nobody")); n != 0 {
		t.Fatalf("HLEN missing = %d", n)
	}
	if ok := collMust(h.Exists(ctx, "u1", "lang")); !ok {
		t.Fatal("HEXISTS lang = false")
	}
	if ok := collMust(h.Exists(ctx, "u1", "nope")); ok {
		t.Fatal("HEXISTS nope = true")
	}

	// HINCRBY / HINCRBYFLOAT.
	if v := collMust(h.IncrBy(ctx, "u1", "visits", 5)); v != 5 {
		t.Fatalf("HINCRBY new = %d", v)
	}
	if v := collMust(h.IncrBy(ctx, "u1", "visits", -7)); v != -2 {
		t.Fatalf("HINCRBY = %d", v)
	}
	if v := collMust(h.Get(ctx, "u1", "visits")); string(v) != "-2" {
		t.Fatalf("stored counter = %q", v)
	}
	_, err = h.IncrBy(ctx, "u1", "name", 1)
	collWant(t, err, waymaker.ErrConflict)
	collMust(h.Set(ctx, "u1", map[string][]byte{"big": []byte("9223372036854775807")}))
	_, err = h.IncrBy(ctx, "u1", "big", 1)
	collWant(t, err, waymaker.ErrConflict)
	if v := collMust(h.IncrByFloat(ctx, "u1", "score", 10.5)); v != 10.5 {
		t.Fatalf("HINCRBYFLOAT = %v", v)
	}
	if v := collMust(h.IncrByFloat(ctx, "u1", "score", 0.1)); v != 10.6 {
		t.Fatalf("HINCRBYFLOAT = %v", v)
	}
	if v := collMust(h.Get(ctx, "u1", "score")); string(v) != "10.6" {
		t.Fatalf("stored float = %q", v)
	}
	if v := collMust(h.IncrByFloat(ctx, "u1", "born", 0.5)); v != 1815.5 {
		t.Fatalf("HINCRBYFLOAT on an int field = %v", v)
	}
	_, err = h.IncrByFloat(ctx, "u1", "lang", 1)
	collWant(t, err, waymaker.ErrConflict)

	// HDEL counts existing fields; the last field takes the key with it.
	if n := collMust(h.Del(ctx, "u1", "lang", "nope", "lang")); n != 1 {
		t.Fatalf("HDEL = %d, want 1", n)
	}
	collMust(h.Set(ctx, "u2", map[string][]byte{"only": []byte("x")}))
	if n := collMust(h.Del(ctx, "u2", "only")); n != 1 {
		t.Fatalf("HDEL last = %d", n)
	}
	var keys []string
	for k, err := range h.AllKeys(ctx, collections.ScanOptions{}) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	if !slices.Equal(keys, []string{"u1"}) {
		t.Fatalf("keys after emptying u2 = %v", keys)
	}

	// Max sizes are enforced by the store.
	small := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: name(t) + "_small", MaxValueSize: 4, MaxBytes: 20}))
	_, err = small.Set(ctx, "k", map[string][]byte{"f": []byte("12345")})
	collWant(t, err, waymaker.ErrLimitExceeded)
	collMust(small.Set(ctx, "k", map[string][]byte{"f": []byte("1234")}))
	_, err = small.Set(ctx, "k", map[string][]byte{"g": []byte("1234"), "h": []byte("1234"), "i": []byte("1234")})
	collWant(t, err, waymaker.ErrLimitExceeded)
	if n := collMust(small.Len(ctx, "k")); n != 1 {
		t.Fatalf("a refused HSET changed the hash: len %d", n)
	}
}

func TestCollectionsHashScan(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: name(t)}))
	fields := map[string][]byte{}
	for i := range 250 {
		fields[fmt.Sprintf("f%03d", i)] = []byte(fmt.Sprint(i))
	}
	collMust(h.Set(ctx, "big", fields))

	// Cursor pages: every field once, in order.
	var got []string
	cursor, pages := "", 0
	for {
		page, next, err := h.Scan(ctx, "big", cursor, collections.ScanOptions{Count: 100})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		for _, f := range page {
			got = append(got, f.Field)
			if string(f.Value) != string(fields[f.Field]) {
				t.Fatalf("value of %s = %q", f.Field, f.Value)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(got) != 250 || pages != 3 || !sort.StringsAreSorted(got) {
		t.Fatalf("HSCAN: %d fields in %d pages", len(got), pages)
	}
	// The iterator, with MATCH.
	var matched []string
	for f, err := range h.All(ctx, "big", collections.ScanOptions{Match: "f1[0-1]?", Count: 7}) {
		if err != nil {
			t.Fatal(err)
		}
		matched = append(matched, f.Field)
	}
	if len(matched) != 20 || matched[0] != "f100" || matched[19] != "f119" {
		t.Fatalf("HSCAN MATCH = %v", matched)
	}
	// Stopping early is fine.
	for range h.All(ctx, "big", collections.ScanOptions{}) {
		break
	}

	// Keys of the store: SCAN, DEL.
	for i := range 5 {
		collMust(h.Set(ctx, fmt.Sprintf("user:%d", i), map[string][]byte{"x": nil}))
	}
	ks, next := collMust2(h.ScanKeys(ctx, "", collections.ScanOptions{Match: "user:*", Count: 3}))
	if len(ks) != 3 || next == "" {
		t.Fatalf("SCAN page = %v %q", ks, next)
	}
	ks2, next2 := collMust2(h.ScanKeys(ctx, next, collections.ScanOptions{Match: "user:*", Count: 3}))
	if len(ks2) != 2 || next2 != "" {
		t.Fatalf("SCAN last page = %v %q", ks2, next2)
	}
	if n := collMust(h.DeleteKeys(ctx, "user:0", "user:1", "nobody")); n != 2 {
		t.Fatalf("DEL = %d", n)
	}
	if info := collMust(h.Info(ctx)); info.Keys != 4 {
		t.Fatalf("keys after DEL = %d", info.Keys)
	}
}

func TestCollectionsHashTTL(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: name(t)}))
	collMust(h.Set(ctx, "s", map[string][]byte{"tok": []byte("a"), "keep": []byte("b"), "gone": []byte("c")}))

	res := collMust(h.Expire(ctx, "s", 2*time.Second, "tok", "nope"))
	if !slices.Equal(res, []collections.ExpireResult{collections.ExpireSet, collections.ExpireNoField}) {
		t.Fatalf("HEXPIRE = %v", res)
	}
	ttl := collMust(h.TTL(ctx, "s", "tok", "keep", "nope"))
	if ttl[0] <= 0 || ttl[0] > 2*time.Second || ttl[1] != collections.TTLNone || ttl[2] != collections.TTLMissing {
		t.Fatalf("HPTTL = %v", ttl)
	}
	// Conditions, as Redis: NX only without TTL, XX only with, GT only
	// later (no TTL is infinite), LT only earlier.
	if r := collMust(h.ExpireIf(ctx, "s", time.Hour, collections.ExpireNX, "tok", "keep")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireNotMet, collections.ExpireSet}) {
		t.Fatalf("NX = %v", r)
	}
	if r := collMust(h.Persist(ctx, "s", "keep", "gone", "nope")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireSet, collections.ExpireNotMet, collections.ExpireNoField}) {
		t.Fatalf("HPERSIST = %v", r)
	}
	if r := collMust(h.ExpireIf(ctx, "s", time.Hour, collections.ExpireXX, "keep")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireNotMet}) {
		t.Fatalf("XX = %v", r)
	}
	if r := collMust(h.ExpireIf(ctx, "s", time.Hour, collections.ExpireGT, "keep")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireNotMet}) {
		t.Fatalf("GT without TTL = %v", r)
	}
	if r := collMust(h.ExpireIf(ctx, "s", time.Hour, collections.ExpireLT, "tok")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireNotMet}) {
		t.Fatalf("LT later = %v", r)
	}
	// A ttl of 0 deletes.
	if r := collMust(h.Expire(ctx, "s", 0, "gone")); !slices.Equal(r, []collections.ExpireResult{collections.ExpireDeleted}) {
		t.Fatalf("HEXPIRE 0 = %v", r)
	}
	// HSET clears a TTL; HINCRBY keeps it.
	collMust(h.Set(ctx, "s2", map[string][]byte{"a": []byte("1"), "n": []byte("1")}))
	collMust(h.Expire(ctx, "s2", time.Hour, "a", "n"))
	collMust(h.Set(ctx, "s2", map[string][]byte{"a": []byte("2")}))
	collMust(h.IncrBy(ctx, "s2", "n", 1))
	if ttl := collMust(h.TTL(ctx, "s2", "a", "n")); ttl[0] != collections.TTLNone || ttl[1] <= 0 {
		t.Fatalf("TTL after HSET/HINCRBY = %v", ttl)
	}

	// The field expires; the other stays.
	collEventually(t, 10*time.Second, "tok to expire", func() bool {
		ok, err := h.Exists(ctx, "s", "tok")
		return err == nil && !ok
	})
	_, err := h.Get(ctx, "s", "tok")
	collWant(t, err, waymaker.ErrNotFound)
	if keys := collMust(h.Keys(ctx, "s")); !slices.Equal(keys, []string{"keep"}) {
		t.Fatalf("HKEYS after expiry = %v", keys)
	}
	// A key whose only field expires is gone.
	collMust(h.Set(ctx, "s3", map[string][]byte{"x": []byte("1")}))
	collMust(h.Expire(ctx, "s3", 50*time.Millisecond, "x"))
	collEventually(t, 5*time.Second, "s3 to expire", func() bool {
		info, err := h.Info(ctx)
		return err == nil && info.Keys == 2
	})
}

func TestCollectionsSet(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := collMust(c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: name(t)}))

	if n := collMust(s.Add(ctx, "a", "x", "y", "z", "x")); n != 3 {
		t.Fatalf("SADD = %d, want 3", n)
	}
	if n := collMust(s.Add(ctx, "a", "x", "w")); n != 1 {
		t.Fatalf("SADD again = %d, want 1", n)
	}
	if n := collMust(s.Rem(ctx, "a", "w", "nope")); n != 1 {
		t.Fatalf("SREM = %d, want 1", n)
	}
	if ok := collMust(s.IsMember(ctx, "a", "y")); !ok {
		t.Fatal("SISMEMBER y = false")
	}
	if ok := collMust(s.IsMember(ctx, "nobody", "y")); ok {
		t.Fatal("SISMEMBER on a missing key = true")
	}
	if got := collMust(s.MIsMember(ctx, "a", "z", "w", "x")); !slices.Equal(got, []bool{true, false, true}) {
		t.Fatalf("SMISMEMBER = %v", got)
	}
	if got := collMust(s.Members(ctx, "a")); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("SMEMBERS = %v", got)
	}
	if n := collMust(s.Card(ctx, "a")); n != 3 {
		t.Fatalf("SCARD = %d", n)
	}
	bin := "\x00\xff\x01"
	collMust(s.Add(ctx, "bin", bin))
	if ok := collMust(s.IsMember(ctx, "bin", bin)); !ok {
		t.Fatal("binary member lost")
	}

	// Algebra.
	collMust(s.Add(ctx, "b", "y", "z", "q"))
	if got := collMust(s.Inter(ctx, "a", "b")); !slices.Equal(got, []string{"y", "z"}) {
		t.Fatalf("SINTER = %v", got)
	}
	if got := collMust(s.Inter(ctx, "a", "missing")); len(got) != 0 {
		t.Fatalf("SINTER with a missing key = %v", got)
	}
	if got := collMust(s.Union(ctx, "a", "b", "missing")); !slices.Equal(got, []string{"q", "x", "y", "z"}) {
		t.Fatalf("SUNION = %v", got)
	}
	if got := collMust(s.Diff(ctx, "a", "b")); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("SDIFF = %v", got)
	}
	if n := collMust(s.InterStore(ctx, "ab", "a", "b")); n != 2 {
		t.Fatalf("SINTERSTORE = %d", n)
	}
	if got := collMust(s.Members(ctx, "ab")); !slices.Equal(got, []string{"y", "z"}) {
		t.Fatalf("stored intersection = %v", got)
	}
	if n := collMust(s.UnionStore(ctx, "ab", "a", "b")); n != 4 {
		t.Fatalf("SUNIONSTORE = %d", n)
	}
	if n := collMust(s.DiffStore(ctx, "ab", "b", "a")); n != 1 {
		t.Fatalf("SDIFFSTORE = %d", n)
	}
	if got := collMust(s.Members(ctx, "ab")); !slices.Equal(got, []string{"q"}) {
		t.Fatalf("stored difference = %v", got)
	}
	// An empty result deletes the destination.
	if n := collMust(s.InterStore(ctx, "ab", "a", "missing")); n != 0 {
		t.Fatalf("empty SINTERSTORE = %d", n)
	}
	if n := collMust(s.Card(ctx, "ab")); n != 0 {
		t.Fatalf("destination of an empty result has %d members", n)
	}

	// SMOVE.
	if ok := collMust(s.Move(ctx, "a", "b", "x")); !ok {
		t.Fatal("SMOVE x = false")
	}
	if ok := collMust(s.Move(ctx, "a", "b", "x")); ok {
		t.Fatal("SMOVE of a moved member = true")
	}
	if ok := collMust(s.Move(ctx, "a", "b", "y")); !ok { // already in b: removed from a only
		t.Fatal("SMOVE y = false")
	}
	if got := collMust(s.Members(ctx, "a")); !slices.Equal(got, []string{"z"}) {
		t.Fatalf("a after SMOVE = %v", got)
	}
	if got := collMust(s.Members(ctx, "b")); !slices.Equal(got, []string{"q", "x", "y", "z"}) {
		t.Fatalf("b after SMOVE = %v", got)
	}

	// SPOP removes distinct members; SRANDMEMBER does not remove.
	var many []string
	for i := range 50 {
		many = append(many, fmt.Sprintf("m%02d", i))
	}
	collMust(s.Add(ctx, "p", many...))
	popped := collMust(s.Pop(ctx, "p", 10))
	if len(popped) != 10 || len(collUniq(popped)) != 10 {
		t.Fatalf("SPOP 10 = %v", popped)
	}
	if got := collMust(s.MIsMember(ctx, "p", popped...)); slices.Contains(got, true) {
		t.Fatalf("popped members still present: %v", got)
	}
	if n := collMust(s.Card(ctx, "p")); n != 40 {
		t.Fatalf("SCARD after SPOP = %d", n)
	}
	if one := collMust(s.Pop(ctx, "p", 0)); len(one) != 1 {
		t.Fatalf("SPOP default count = %v", one)
	}
	rnd := collMust(s.RandMember(ctx, "p", 5))
	if len(rnd) != 5 || len(collUniq(rnd)) != 5 {
		t.Fatalf("SRANDMEMBER 5 = %v", rnd)
	}
	if all := collMust(s.RandMember(ctx, "p", 1000)); len(all) != 39 {
		t.Fatalf("SRANDMEMBER past the size = %d members", len(all))
	}
	if rep := collMust(s.RandMember(ctx, "a", -5)); len(rep) != 5 || rep[0] != "z" {
		t.Fatalf("SRANDMEMBER -5 = %v", rep)
	}
	if n := collMust(s.Card(ctx, "p")); n != 39 {
		t.Fatalf("SRANDMEMBER removed members: %d", n)
	}
	rest := collMust(s.Pop(ctx, "p", 100))
	if len(rest) != 39 {
		t.Fatalf("SPOP past the size = %d", len(rest))
	}
	if got := collMust(s.Pop(ctx, "p", 1)); len(got) != 0 {
		t.Fatalf("SPOP of an emptied set = %v", got)
	}

	// SSCAN.
	collMust(s.Add(ctx, "big", many...))
	var scanned []string
	for m, err := range s.All(ctx, "big", collections.ScanOptions{Count: 8}) {
		if err != nil {
			t.Fatal(err)
		}
		scanned = append(scanned, m)
	}
	if !slices.Equal(scanned, many) {
		t.Fatalf("SSCAN = %v", scanned)
	}
	page, next := collMust2(s.Scan(ctx, "big", "", collections.ScanOptions{Match: "m4?", Count: 100}))
	if len(page) != 10 || next != "" {
		t.Fatalf("SSCAN MATCH = %v %q", page, next)
	}

	// Max member size.
	small := collMust(c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: name(t) + "_small", MaxMemberSize: 3}))
	_, err := small.Add(ctx, "k", "abcd")
	collWant(t, err, waymaker.ErrLimitExceeded)
}

func collUniq(ms []string) map[string]bool {
	out := map[string]bool{}
	for _, m := range ms {
		out[m] = true
	}
	return out
}

func TestCollectionsQueue(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t)}))

	for i := range 3 {
		collMust(q.Push(ctx, []byte(fmt.Sprint("m", i)), collections.WithAttributes(map[string]string{"i": fmt.Sprint(i)})))
	}
	if l := collMust(q.Len(ctx)); l != (waymaker.QueueLen{Ready: 3}) {
		t.Fatalf("Len = %+v", l)
	}
	peek := collMust(q.Peek(ctx, 10))
	if len(peek) != 3 || string(peek[0].Payload) != "m0" || string(peek[2].Payload) != "m2" || peek[0].Receipt != "" {
		t.Fatalf("Peek = %+v", peek)
	}

	// FIFO, with receipts and attributes.
	m0 := collMust(q.Pop(ctx, 0))
	if string(m0.Payload) != "m0" || m0.Receipt == "" || m0.ReceiveCount != 1 || m0.Attributes["i"] != "0" || m0.PushedAt.IsZero() {
		t.Fatalf("first pop = %+v", m0)
	}
	if until := time.Until(m0.InvisibleUntil); until < 25*time.Second || until > 31*time.Second {
		t.Fatalf("InvisibleUntil %v from now, want the default 30s", until)
	}
	if l := collMust(q.Len(ctx)); l != (waymaker.QueueLen{Ready: 2, InFlight: 1}) {
		t.Fatalf("Len = %+v", l)
	}
	batch := collMust(q.PopBatch(ctx, 0, 5))
	if len(batch) != 2 || string(batch[0].Payload) != "m1" || string(batch[1].Payload) != "m2" {
		t.Fatalf("PopBatch = %v", batch)
	}
	_, err := q.Pop(ctx, 0)
	collWant(t, err, waymaker.ErrExpired)

	if err := m0.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	// A second ack of the same receipt: the message is gone.
	collWant(t, m0.Ack(ctx), waymaker.ErrNotOwner)
	// Nack at once returns a message to its FIFO place, ahead of later ones.
	collMust(q.Push(ctx, []byte("m3")))
	if err := batch[1].Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if err := batch[0].Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	collWant(t, batch[0].Nack(ctx, 0), waymaker.ErrNotOwner)
	again := collMust(q.PopBatch(ctx, 0, 3))
	if len(again) != 3 || string(again[0].Payload) != "m1" || string(again[1].Payload) != "m2" || string(again[2].Payload) != "m3" || again[0].ReceiveCount != 2 {
		t.Fatalf("FIFO after nack = %v", again)
	}
	// The receipt of the earlier pop of m1 is stale now.
	collWant(t, q.Ack(ctx, batch[0].Receipt), waymaker.ErrNotOwner)
	for _, m := range again {
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if l := collMust(q.Len(ctx)); l.Total() != 0 {
		t.Fatalf("Len after acks = %+v", l)
	}

	// Dedupe: the same id within the window stores nothing.
	r1 := collMust(q.Push(ctx, []byte("once"), collections.WithID("order-17")))
	r2 := collMust(q.Push(ctx, []byte("twice"), collections.WithID("order-17")))
	if r1.ID != "order-17" || r1.Duplicate || !r2.Duplicate {
		t.Fatalf("dedupe = %+v %+v", r1, r2)
	}
	if l := collMust(q.Len(ctx)); l.Ready != 1 {
		t.Fatalf("Len after duplicate push = %+v", l)
	}
	got := collMust(q.Pop(ctx, 0))
	if got.ID != "order-17" || string(got.Payload) != "once" {
		t.Fatalf("deduped message = %+v", got)
	}
	// SDK-made ids are distinct.
	a := collMust(q.Push(ctx, []byte("a")))
	b := collMust(q.Push(ctx, []byte("b")))
	if a.ID == "" || a.ID == b.ID {
		t.Fatalf("made ids %q %q", a.ID, b.ID)
	}
	if n := collMust(q.Purge(ctx)); n != 3 {
		t.Fatalf("Purge = %d, want 3", n)
	}
	collWant(t, got.Ack(ctx), waymaker.ErrNotOwner)

	// MaxMessages and MaxMessageSize.
	lim := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t) + "_lim", MaxMessages: 1, MaxMessageSize: 4}))
	_, err = lim.Push(ctx, []byte("12345"))
	collWant(t, err, waymaker.ErrLimitExceeded)
	collMust(lim.Push(ctx, []byte("1")))
	_, err = lim.Push(ctx, []byte("2"))
	collWant(t, err, waymaker.ErrLimitExceeded)
}

func TestCollectionsQueueVisibilityTimeout(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t), VisibilityTimeout: 200 * time.Millisecond}))
	collMust(q.Push(ctx, []byte("job")))

	first := collMust(q.Pop(ctx, 0))
	// Not acked: it comes back after the visibility timeout, to a pop that
	// is waiting for it, with a new receipt. (This pop hides it longer, so a
	// slow machine cannot time it out before the checks below.)
	second := collMust(q.Pop(ctx, 10*time.Second, collections.WithVisibilityTimeout(10*time.Second)))
	if second.ID != first.ID || second.ReceiveCount != 2 || second.Receipt == first.Receipt {
		t.Fatalf("redelivery = %+v after %+v", second, first)
	}
	if second.InvisibleUntil.Sub(first.InvisibleUntil) < 200*time.Millisecond {
		t.Fatalf("redelivered before the visibility timeout: %v then %v", first.InvisibleUntil, second.InvisibleUntil)
	}
	// The stale receipt cannot ack, extend or nack.
	collWant(t, first.Ack(ctx), waymaker.ErrNotOwner)
	collWant(t, first.ExtendVisibility(ctx, time.Second), waymaker.ErrNotOwner)
	collWant(t, first.Nack(ctx, 0), waymaker.ErrNotOwner)

	// ExtendVisibility keeps it hidden past the original timeout.
	if err := second.ExtendVisibility(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	if time.Until(second.InvisibleUntil) < 50*time.Minute {
		t.Fatalf("InvisibleUntil after extend = %v", second.InvisibleUntil)
	}
	_, err := q.Pop(ctx, 600*time.Millisecond)
	collWant(t, err, waymaker.ErrExpired)
	if err := second.Ack(ctx); err != nil {
		t.Fatal(err)
	}

	// A per-pop visibility override.
	collMust(q.Push(ctx, []byte("job2")))
	m := collMust(q.Pop(ctx, 0, collections.WithVisibilityTimeout(time.Hour)))
	if time.Until(m.InvisibleUntil) < 50*time.Minute {
		t.Fatalf("override ignored: %v", m.InvisibleUntil)
	}
}

func TestCollectionsQueueDeadLetter(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	n := name(t)
	dlq := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_dlq"}))
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: n, MaxReceiveCount: 2, VisibilityTimeout: 100 * time.Millisecond, DeadLetterQueue: n + "_dlq"}))
	collMust(q.Push(ctx, []byte("poison"), collections.WithID("p1"), collections.WithAttributes(map[string]string{"k": "v"})))

	// First receive: nacked. Second: times out. Then it is dead.
	long := collections.WithVisibilityTimeout(10 * time.Second)
	m := collMust(q.Pop(ctx, 0, long))
	if err := m.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	m = collMust(q.Pop(ctx, 0))
	if m.ReceiveCount != 2 {
		t.Fatalf("ReceiveCount = %d", m.ReceiveCount)
	}
	dead := collMust(dlq.Pop(ctx, 10*time.Second))
	if dead.ID != "p1" || string(dead.Payload) != "poison" || dead.Attributes["k"] != "v" || dead.ReceiveCount != 1 {
		t.Fatalf("dead letter = %+v", dead)
	}
	if l := collMust(q.Len(ctx)); l.Total() != 0 {
		t.Fatalf("source queue after dead-lettering = %+v", l)
	}
	collWant(t, m.Ack(ctx), waymaker.ErrNotOwner)

	// A nack of a message out of receives dead-letters it at once.
	collMust(q.Push(ctx, []byte("p2")))
	for range 2 {
		m = collMust(q.Pop(ctx, 0, long))
		if err := m.Nack(ctx, 0); err != nil {
			t.Fatal(err)
		}
	}
	if l := collMust(dlq.Len(ctx)); l.Ready != 1 {
		t.Fatalf("dlq after nack = %+v", l)
	}

	// Without a dead-letter queue, the message is dropped.
	drop := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_drop", MaxReceiveCount: 1}))
	collMust(drop.Push(ctx, []byte("x")))
	m = collMust(drop.Pop(ctx, 0))
	if err := m.Nack(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if l := collMust(drop.Len(ctx)); l.Total() != 0 {
		t.Fatalf("dropped dead letter still held: %+v", l)
	}
}

func TestCollectionsQueueDelay(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t)}))

	pushed := time.Now()
	collMust(q.Push(ctx, []byte("later"), collections.WithDelay(300*time.Millisecond)))
	collMust(q.Push(ctx, []byte("now")))
	if l := collMust(q.Len(ctx)); l != (waymaker.QueueLen{Ready: 1, Delayed: 1}) {
		t.Fatalf("Len = %+v", l)
	}
	if p := collMust(q.Peek(ctx, 5)); len(p) != 1 || string(p[0].Payload) != "now" {
		t.Fatalf("Peek sees a delayed message: %v", p)
	}
	if m := collMust(q.Pop(ctx, 0)); string(m.Payload) != "now" {
		t.Fatalf("first pop = %s", m.Payload)
	} else if err := m.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := q.Pop(ctx, 0)
	collWant(t, err, waymaker.ErrExpired)
	m := collMust(q.Pop(ctx, 10*time.Second))
	if string(m.Payload) != "later" {
		t.Fatalf("delayed pop = %s", m.Payload)
	}
	if waited := time.Since(pushed); waited < 298*time.Millisecond { // times are whole ms
		t.Fatalf("delayed message popped after %v", waited)
	}

	// Nack with a delay holds it back again.
	nacked := time.Now()
	if err := m.Nack(ctx, 250*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if l := collMust(q.Len(ctx)); l.Delayed != 1 || l.InFlight != 0 {
		t.Fatalf("Len after delayed nack = %+v", l)
	}
	m = collMust(q.Pop(ctx, 10*time.Second))
	if string(m.Payload) != "later" || time.Since(nacked) < 248*time.Millisecond {
		t.Fatalf("nack delay not kept: %s after %v", m.Payload, time.Since(nacked))
	}

	// A queue-wide default delay.
	dq := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t) + "_d", Delay: time.Hour}))
	collMust(dq.Push(ctx, []byte("x")))
	collMust(dq.Push(ctx, []byte("y"), collections.WithDelay(0)))
	if l := collMust(dq.Len(ctx)); l != (waymaker.QueueLen{Ready: 1, Delayed: 1}) {
		t.Fatalf("default delay: %+v", l)
	}
}

func TestCollectionsQueueBlockingPop(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t)}))

	// Several blocked pops, each woken by a push; every message delivered once.
	const n = 4
	var wg sync.WaitGroup
	got := make(chan string, n)
	errs := make(chan error, n)
	started := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := q.Pop(ctx, 20*time.Second)
			if err != nil {
				errs <- err
				return
			}
			got <- string(m.Payload)
		}()
	}
	for i := range n {
		collMust(q.Push(ctx, []byte(fmt.Sprint("w", i))))
	}
	wg.Wait()
	close(got)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	var payloads []string
	for p := range got {
		payloads = append(payloads, p)
	}
	sort.Strings(payloads)
	if !slices.Equal(payloads, []string{"w0", "w1", "w2", "w3"}) {
		t.Fatalf("blocked pops got %v", payloads)
	}
	if d := time.Since(started); d > 10*time.Second {
		t.Fatalf("blocked pops took %v: not woken by the pushes", d)
	}

	// Consume: a stream of pops, ended by the consumer.
	for i := range 3 {
		collMust(q.Push(ctx, []byte(fmt.Sprint("c", i))))
	}
	var consumed []string
	for m, err := range q.Consume(ctx, time.Second) {
		if err != nil {
			t.Fatal(err)
		}
		consumed = append(consumed, string(m.Payload))
		if err := m.Ack(ctx); err != nil {
			t.Fatal(err)
		}
		if len(consumed) == 3 {
			break
		}
	}
	if !slices.Equal(consumed, []string{"c0", "c1", "c2"}) {
		t.Fatalf("Consume = %v", consumed)
	}
	// ... and by its context.
	cctx0, cancel0 := context.WithTimeout(ctx, 300*time.Millisecond)
	for _, err := range q.Consume(cctx0, 50*time.Millisecond) {
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Consume after its context ended: %v", err)
		}
	}
	cancel0()

	// A blocked pop ends with the caller's context.
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := q.Pop(cctx, 20*time.Second)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled pop = %v", err)
	}
	// A blocked pop on a deleted queue answers not_found.
	other := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: name(t) + "_del"}))
	go func() {
		_, err := other.Pop(ctx, 20*time.Second)
		done <- err
	}()
	if err := c.DeleteQueue(ctx, other.Name()); err != nil {
		t.Fatal(err)
	}
	collWant(t, <-done, waymaker.ErrNotFound)
}

// TestCollectionsRestart: the state comes back by replaying the raft log.
func TestCollectionsRestart(t *testing.T) {
	defer collCatch(t)
	collRestart(t, waymakertest.WithTempDataDir())
}

// TestCollectionsRestartFromSnapshot: raft snapshots after every entry, so
// the state comes back through Restore (plus any log tail).
func TestCollectionsRestartFromSnapshot(t *testing.T) {
	defer collCatch(t)
	collRestart(t, waymakertest.WithTempDataDir(), waymakertest.WithConfig(func(c *server.Config) {
		c.SnapshotThreshold = 1
		c.SnapshotInterval = 5 * time.Millisecond
	}))
}

func collRestart(t *testing.T, opts ...waymakertest.Option) {
	srv, c := startEmbedded(t, opts...)
	ctx := testCtx(t, 60*time.Second)
	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: "h", MaxBytes: 1 << 20}))
	s := collMust(c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: "s"}))
	collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: "dlq"}))
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: "q", DeadLetterQueue: "dlq", MaxReceiveCount: 3, Retention: time.Hour}))

	collMust(h.Set(ctx, "k", map[string][]byte{"a": []byte("1"), "b": []byte("2")}))
	collMust(h.Expire(ctx, "k", time.Hour, "a"))
	collMust(s.Add(ctx, "k", "x", "y", "z"))
	collMust(q.Push(ctx, []byte("first"), collections.WithID("id1")))
	collMust(q.Push(ctx, []byte("second")))
	collMust(q.Push(ctx, []byte("later"), collections.WithDelay(time.Hour)))
	inflight := collMust(q.Pop(ctx, 0))
	before := collMust(collAll(c.Collections().List(ctx, collections.KindAny)))
	snaps := filepath.Join(srv.DataDir(), "snapshots")
	collEventually(t, 10*time.Second, "a raft snapshot (when configured)", func() bool {
		entries, _ := os.ReadDir(snaps)
		return len(opts) == 1 || len(entries) > 0
	})

	srv.Restart()

	after := collMust(collAll(c.Collections().List(ctx, collections.KindAny)))
	if len(after) != len(before) {
		t.Fatalf("stores after restart: %d, before %d", len(after), len(before))
	}
	for i := range before {
		if before[i].Name != after[i].Name || before[i].Bytes != after[i].Bytes || before[i].Keys != after[i].Keys || !before[i].CreatedAt.Equal(after[i].CreatedAt) {
			t.Fatalf("store %d: %+v before, %+v after", i, before[i], after[i])
		}
	}
	if all := collMust(h.GetAll(ctx, "k")); len(all) != 2 || string(all["a"]) != "1" {
		t.Fatalf("hash after restart = %v", all)
	}
	if ttl := collMust(h.TTL(ctx, "k", "a", "b")); ttl[0] < 50*time.Minute || ttl[1] != collections.TTLNone {
		t.Fatalf("TTLs after restart = %v", ttl)
	}
	if ms := collMust(s.Members(ctx, "k")); !slices.Equal(ms, []string{"x", "y", "z"}) {
		t.Fatalf("set after restart = %v", ms)
	}
	if l := collMust(q.Len(ctx)); l != (waymaker.QueueLen{Ready: 1, InFlight: 1, Delayed: 1}) {
		t.Fatalf("queue after restart = %+v", l)
	}
	// The dedupe window survives, the in-flight receipt stays current, and
	// the dead-letter link still protects its queue.
	if r := collMust(q.Push(ctx, []byte("again"), collections.WithID("id1"))); !r.Duplicate {
		t.Fatal("dedupe window lost across restart")
	}
	if err := inflight.Ack(ctx); err != nil {
		t.Fatalf("ack of a receipt from before the restart: %v", err)
	}
	collWant(t, c.DeleteQueue(ctx, "dlq"), waymaker.ErrConflict)
	if m := collMust(q.Pop(ctx, 0)); string(m.Payload) != "second" {
		t.Fatalf("pop after restart = %s", m.Payload)
	}
}

// TestCollectionsBadInput checks both sides: the SDK refuses bad arguments
// before sending (Kind invalid, naming the argument), and the server refuses
// the same requests sent straight through the generated stub
// (invalid_argument naming the field), changing nothing.
func TestCollectionsBadInput(t *testing.T) {
	defer collCatch(t)
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	n := name(t)
	h := collMust(c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: n + "_h"}))
	s := collMust(c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: n + "_s"}))
	q := collMust(c.CreateQueue(ctx, waymaker.QueueConfig{Name: n + "_q"}))
	collMust(h.Set(ctx, "k", map[string][]byte{"f": []byte("v")}))
	collMust(s.Add(ctx, "k", "m"))
	collMust(q.Push(ctx, []byte("p")))

	// SDK side.
	_, err := c.CreateHashStore(ctx, waymaker.HashStoreConfig{Name: ""})
	collWantInvalid(t, err, "cfg.Name")
	_, err = c.CreateSetStore(ctx, waymaker.SetStoreConfig{Name: "a b"})
	collWantInvalid(t, err, "cfg.Name")
	_, err = c.CreateQueue(ctx, waymaker.QueueConfig{Name: "q", VisibilityTimeout: -time.Second})
	collWantInvalid(t, err, "cfg.VisibilityTimeout")
	_, err = c.CreateQueue(ctx, waymaker.QueueConfig{Name: "q", DeadLetterQueue: "q"})
	collWantInvalid(t, err, "cfg.DeadLetterQueue")
	_, err = h.Set(ctx, "", map[string][]byte{"f": nil})
	collWantInvalid(t, err, "key")
	_, err = h.Set(ctx, "k", nil)
	collWantInvalid(t, err, "fields")
	_, err = h.Get(ctx, "k", "")
	collWantInvalid(t, err, "field")
	_, err = h.Get(ctx, "k", "\xff")
	collWantInvalid(t, err, "field")
	_, err = h.Expire(ctx, "k", -time.Second, "f")
	collWantInvalid(t, err, "ttl")
	_, err = h.IncrByFloat(ctx, "k", "f", collNaN())
	collWantInvalid(t, err, "delta")
	_, _, err = h.Scan(ctx, "k", "", collections.ScanOptions{Count: -1})
	collWantInvalid(t, err, "opts.Count")
	_, err = s.Add(ctx, "k", "")
	collWantInvalid(t, err, "members")
	_, err = s.Add(ctx, "k")
	collWantInvalid(t, err, "members")
	_, err = s.Pop(ctx, "k", -1)
	collWantInvalid(t, err, "count")
	_, err = s.Inter(ctx)
	collWantInvalid(t, err, "keys")
	_, err = q.Pop(ctx, -time.Second)
	collWantInvalid(t, err, "wait")
	_, err = q.PopBatch(ctx, 0, 0)
	collWantInvalid(t, err, "max")
	_, err = q.Push(ctx, nil, collections.WithDelay(-time.Second))
	collWantInvalid(t, err, "WithDelay")
	_, err = q.Pop(ctx, 0, collections.WithVisibilityTimeout(0))
	collWantInvalid(t, err, "WithVisibilityTimeout")
	collWantInvalid(t, q.Ack(ctx, ""), "receipt")
	collWantInvalid(t, q.Nack(ctx, "r", -time.Second), "delay")
	_, err = q.ExtendVisibility(ctx, "r", 0)
	collWantInvalid(t, err, "d")
	_, err = q.Peek(ctx, 0)
	collWantInvalid(t, err, "n")

	// Server side, through the generated stub.
	rpc := pb.NewCollectionsServiceClient(c.Conn())
	neg := int64(-1)
	for _, tc := range []struct {
		field string
		call  func() (interface{ GetResult() *collResult }, error)
	}{
		{"config", func() (interface{ GetResult() *collResult }, error) {
			return rpc.CreateStore(ctx, &pb.CollectionsServiceCreateStoreRequest{})
		}},
		{"config.name", func() (interface{ GetResult() *collResult }, error) {
			return rpc.CreateStore(ctx, &pb.CollectionsServiceCreateStoreRequest{Config: &pb.CollectionsStoreConfig{Name: "bad name", Kind: &pb.CollectionsStoreConfig_Hash{Hash: &pb.HashStoreConfig{}}}})
		}},
		{"config.kind", func() (interface{ GetResult() *collResult }, error) {
			return rpc.CreateStore(ctx, &pb.CollectionsServiceCreateStoreRequest{Config: &pb.CollectionsStoreConfig{Name: n + "_x"}})
		}},
		{"config.queue.visibility_timeout_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.CreateStore(ctx, &pb.CollectionsServiceCreateStoreRequest{Config: &pb.CollectionsStoreConfig{Name: n + "_x", Kind: &pb.CollectionsStoreConfig_Queue{Queue: &pb.QueueConfig{VisibilityTimeoutMs: -5}}}})
		}},
		{"store", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HSet(ctx, &pb.CollectionsServiceHSetRequest{Key: "k", Fields: map[string][]byte{"f": nil}})
		}},
		{"key", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HSet(ctx, &pb.CollectionsServiceHSetRequest{Store: n + "_h", Fields: map[string][]byte{"f": nil}})
		}},
		{"fields", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HSet(ctx, &pb.CollectionsServiceHSetRequest{Store: n + "_h", Key: "k", Fields: map[string][]byte{"": []byte("x")}})
		}},
		{"fields", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HDel(ctx, &pb.CollectionsServiceHDelRequest{Store: n + "_h", Key: "k"})
		}},
		{"key", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HSet(ctx, &pb.CollectionsServiceHSetRequest{Store: n + "_h", Key: strings.Repeat("k", 2000), Fields: map[string][]byte{"f": nil}})
		}},
		{"ttl_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HExpire(ctx, &pb.CollectionsServiceHExpireRequest{Store: n + "_h", Key: "k", Fields: []string{"f"}, TtlMs: -1})
		}},
		{"delta", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HIncrByFloat(ctx, &pb.CollectionsServiceHIncrByFloatRequest{Store: n + "_h", Key: "k", Field: "f", Delta: collNaN()})
		}},
		{"match", func() (interface{ GetResult() *collResult }, error) {
			return rpc.HScan(ctx, &pb.CollectionsServiceHScanRequest{Store: n + "_h", Key: "k", Match: "[abc"})
		}},
		{"cursor", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SScan(ctx, &pb.CollectionsServiceSScanRequest{Store: n + "_s", Key: "k", Cursor: "!!"})
		}},
		{"members", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SAdd(ctx, &pb.CollectionsServiceSAddRequest{Store: n + "_s", Key: "k", Members: [][]byte{[]byte("a"), {}}})
		}},
		{"members", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SRem(ctx, &pb.CollectionsServiceSRemRequest{Store: n + "_s", Key: "k"})
		}},
		{"count", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SPop(ctx, &pb.CollectionsServiceSPopRequest{Store: n + "_s", Key: "k", Count: -1})
		}},
		{"keys", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SInter(ctx, &pb.CollectionsServiceSInterRequest{Store: n + "_s", Destination: "d"})
		}},
		{"member", func() (interface{ GetResult() *collResult }, error) {
			return rpc.SMove(ctx, &pb.CollectionsServiceSMoveRequest{Store: n + "_s", Source: "k", Destination: "d"})
		}},
		{"wait_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: n + "_q", WaitMs: -1})
		}},
		{"visibility_timeout_ms", func() (interface{ GetResult() *collResult }, error) {
			zero := int64(0)
			return rpc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: n + "_q", VisibilityTimeoutMs: &zero})
		}},
		{"delay_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueuePush(ctx, &pb.CollectionsServiceQueuePushRequest{Queue: n + "_q", DelayMs: &neg})
		}},
		{"receipt", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueueAck(ctx, &pb.CollectionsServiceQueueAckRequest{Queue: n + "_q", Receipt: "garbage"})
		}},
		{"delay_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueueNack(ctx, &pb.CollectionsServiceQueueNackRequest{Queue: n + "_q", Receipt: "1.1.1", DelayMs: -1})
		}},
		{"visibility_timeout_ms", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueueExtendVisibility(ctx, &pb.CollectionsServiceQueueExtendVisibilityRequest{Queue: n + "_q", Receipt: "1.1.1"})
		}},
		{"max_messages", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueuePop(ctx, &pb.CollectionsServiceQueuePopRequest{Queue: n + "_q", MaxMessages: 5000})
		}},
		{"count", func() (interface{ GetResult() *collResult }, error) {
			return rpc.QueuePeek(ctx, &pb.CollectionsServiceQueuePeekRequest{Queue: n + "_q", Count: -1})
		}},
	} {
		resp, err := tc.call()
		if err != nil {
			t.Fatalf("%s: rpc error %v", tc.field, err)
		}
		r := resp.GetResult()
		if r.GetSuccess() || r.GetResultCode() != "invalid_argument" || !strings.HasPrefix(r.GetMessage(), tc.field+":") {
			t.Errorf("%s: result %v, want invalid_argument naming it", tc.field, r)
		}
	}

	// Nothing changed.
	if all := collMust(h.GetAll(ctx, "k")); len(all) != 1 || string(all["f"]) != "v" {
		t.Fatalf("hash changed: %v", all)
	}
	if ms := collMust(s.Members(ctx, "k")); !slices.Equal(ms, []string{"m"}) {
		t.Fatalf("set changed: %v", ms)
	}
	if l := collMust(q.Len(ctx)); l != (waymaker.QueueLen{Ready: 1}) {
		t.Fatalf("queue changed: %+v", l)
	}
	if _, err := c.Collections().StoreInfo(ctx, n+"_x"); !errors.Is(err, waymaker.ErrNotFound) {
		t.Fatalf("a refused create made a store: %v", err)
	}
}

// Example_collectionsQueue walks a reliable queue against an embedded server:
// a message not acked in time is delivered again.
func Example_collectionsQueue() {
	srv, err := server.New(server.Config{})
	if err != nil {
		panic(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	ctx := context.Background()
	client, err := waymaker.Connect(ctx, lis.Addr().String())
	if err != nil {
		panic(err)
	}
	defer client.Close()

	q, _ := client.CreateQueue(ctx, waymaker.QueueConfig{Name: "jobs", VisibilityTimeout: 100 * time.Millisecond})
	_, _ = q.Push(ctx, []byte("resize image 42"), collections.WithID("job-42"))
	if r, _ := q.Push(ctx, []byte("resize image 42"), collections.WithID("job-42")); r.Duplicate {
		fmt.Println("second push of job-42 deduplicated")
	}
	m, _ := q.Pop(ctx, time.Second)
	fmt.Printf("popped %s (receive %d)\n", m.Payload, m.ReceiveCount)
	// Not acked: after the visibility timeout it comes back.
	m2, _ := q.Pop(ctx, 5*time.Second, collections.WithVisibilityTimeout(time.Minute))
	fmt.Printf("popped %s again (receive %d)\n", m2.Payload, m2.ReceiveCount)
	fmt.Println("stale receipt:", errors.Is(m.Ack(ctx), waymaker.ErrNotOwner))
	fmt.Println("current receipt:", m2.Ack(ctx) == nil)
	// Output:
	// second push of job-42 deduplicated
	// popped resize image 42 (receive 1)
	// popped resize image 42 again (receive 2)
	// stale receipt: true
	// current receipt: true
}
