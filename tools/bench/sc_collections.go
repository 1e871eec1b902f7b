package main

func init() {
	register(&Case{
		Group: "collections", Name: "hash-set",
		Note:     "set one field of a hash, one hash per worker (Redis HSET)",
		Payloads: []int{16, 128, 4 << 10},
		Sides:    collSides(wmHSet, redisHSet),
	})
	register(&Case{
		Group: "collections", Name: "hash-get",
		Note:     "get one existing field of a hash, one hash per worker (Redis HGET)",
		Payloads: []int{16, 128, 4 << 10},
		Sides:    collSides(wmHGet, redisHGet),
	})
	register(&Case{
		Group: "collections", Name: "set-add",
		Note:  "add a new member to a set, one set per worker (Redis SADD)",
		Sides: collSides(wmSAdd, redisSAdd),
	})
	register(&Case{
		Group: "collections", Name: "set-ismember",
		Note:  "membership test of an existing member of a 1,000-member set (Redis SISMEMBER)",
		Sides: collSides(wmSIsMember, redisSIsMember),
	})
	register(&Case{
		Group: "collections", Name: "queue-push-pop",
		Note:     "push one message and pop it again, one queue per worker; waymaker also acks it (Redis LPUSH + RPOP: no ack)",
		Payloads: []int{128},
		Sides:    collSides(wmPushPopAck, redisPushPop),
	})
	register(&Case{
		Group: "collections", Name: "queue-ack",
		Note: "push one message, pop it and ack it, one queue per worker, at least once on both sides: the same waymaker operations as queue-push-pop " +
			"against Redis's reliable-queue pattern (LPUSH, LMOVE into a processing list, LREM from it as the ack)",
		Payloads: []int{128},
		Sides:    collSides(wmPushPopAck, redisReliableQueue),
	})
}

func collSides(wm, redis setupFunc) []Side {
	return []Side{
		{System: "waymaker", Label: wmColl, Peer: redisLabel, Setup: wm},
		{System: "redis", Label: redisLabel, Setup: redis},
	}
}
