package main

func init() {
	register(&Case{
		Group: "sketches", Name: "hll-add",
		Note:  "add one element to a HyperLogLog, one HLL per worker (Redis PFADD)",
		Sides: sketchSides(wmHLLAdd, redisPFAdd),
	})
	register(&Case{
		Group: "sketches", Name: "bloom-add",
		Note:  "add one new item to a Bloom filter (capacity 1M, 1% error) shared by the workers; Redis has no Bloom filter without the RedisBloom module, so no peer: read it against the floor",
		Sides: sketchSides(wmBloom(false), nil),
	})
	register(&Case{
		Group: "sketches", Name: "bloom-exists",
		Note:  "membership test of an added item in a Bloom filter shared by the workers (no peer, as for bloom-add)",
		Sides: sketchSides(wmBloom(true), nil),
	})
}

func sketchSides(wm, redis setupFunc) []Side {
	sides := []Side{{System: "waymaker", Label: wmColl, Setup: wm}}
	if redis != nil {
		sides[0].Peer = redisLabel
		sides = append(sides, Side{System: "redis", Label: redisLabel, Setup: redis})
	}
	return sides
}
