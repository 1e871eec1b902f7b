package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// Redis sides of the collection and sketch scenarios: redis-server in
// memory, go-redis with a connection pool. Each worker works on its own
// key unless the scenario says otherwise.

const redisLabel = "Redis"

func redisKeys(env *Env, prefix string, n int) []string {
	base := env.uniq(prefix)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = base + ":" + strconv.Itoa(i)
	}
	return keys
}

func redisCleanup(env *Env, keys []string) func() {
	return func() { _ = env.Redis.rdb.Del(context.Background(), keys...).Err() }
}

func redisHSet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, val := redisKeys(env, "h", p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		return env.Redis.rdb.HSet(ctx, keys[w], "field", val).Err()
	}, redisCleanup(env, keys), nil
}

func redisHGet(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, val := redisKeys(env, "h", p.Conc), payload(p.Payload)
	for _, k := range keys {
		if err := env.Redis.rdb.HSet(ctx, k, "field", val).Err(); err != nil {
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		v, err := env.Redis.rdb.HGet(ctx, keys[w], "field").Bytes()
		if err == nil && len(v) != len(val) {
			return errors.New("short value")
		}
		return err
	}, redisCleanup(env, keys), nil
}

func redisSAdd(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys := redisKeys(env, "s", p.Conc)
	return func(ctx context.Context, w, i int) error {
		return env.Redis.rdb.SAdd(ctx, keys[w], member(i)).Err()
	}, redisCleanup(env, keys), nil
}

func redisSIsMember(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys := redisKeys(env, "s", p.Conc)
	for _, k := range keys {
		if err := env.Redis.rdb.SAdd(ctx, k, members(1000)...).Err(); err != nil {
			return nil, nil, err
		}
	}
	return func(ctx context.Context, w, i int) error {
		ok, err := env.Redis.rdb.SIsMember(ctx, keys[w], member(i%1000)).Result()
		if err == nil && !ok {
			return errors.New("member missing")
		}
		return err
	}, redisCleanup(env, keys), nil
}

// redisPushPop: LPUSH then RPOP of the same list (Redis lists have no ack).
func redisPushPop(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, val := redisKeys(env, "q", p.Conc), payload(p.Payload)
	return func(ctx context.Context, w, i int) error {
		if err := env.Redis.rdb.LPush(ctx, keys[w], val).Err(); err != nil {
			return err
		}
		_, err := env.Redis.rdb.RPop(ctx, keys[w]).Bytes()
		if errors.Is(err, redis.Nil) {
			return errors.New("queue empty after push")
		}
		return err
	}, redisCleanup(env, keys), nil
}

// redisReliableQueue is the reliable-queue pattern of Redis's LMOVE
// documentation: the pop moves the message into a processing list, where
// it stays until the consumer's LREM acks it, so a consumer that dies
// holding it leaves it to be recovered.
func redisReliableQueue(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys, val := redisKeys(env, "rq", p.Conc), payload(p.Payload)
	proc := make([]string, len(keys))
	for i, k := range keys {
		proc[i] = k + ":processing"
	}
	return func(ctx context.Context, w, i int) error {
		if err := env.Redis.rdb.LPush(ctx, keys[w], val).Err(); err != nil {
			return err
		}
		m, err := env.Redis.rdb.LMove(ctx, keys[w], proc[w], "RIGHT", "LEFT").Bytes()
		if errors.Is(err, redis.Nil) {
			return errors.New("queue empty after push")
		}
		if err != nil {
			return err
		}
		n, err := env.Redis.rdb.LRem(ctx, proc[w], 1, m).Result()
		if err == nil && n != 1 {
			err = fmt.Errorf("ack removed %d messages, want 1", n)
		}
		return err
	}, redisCleanup(env, append(keys, proc...)), nil
}

func redisPFAdd(ctx context.Context, env *Env, p Point) (Op, func(), error) {
	keys := redisKeys(env, "hll", p.Conc)
	return func(ctx context.Context, w, i int) error {
		return env.Redis.rdb.PFAdd(ctx, keys[w], member(i)).Err()
	}, redisCleanup(env, keys), nil
}

func member(i int) string { return "member-" + strconv.Itoa(i) }

func members(n int) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = member(i)
	}
	return out
}
