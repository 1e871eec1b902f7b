package main

func init() {
	register(&Case{
		Group: "sketches", Name: "hll-add",
		Note:  "add one new element to a HyperLogLog, one per worker (Redis PFADD)",
		Sides: sketchSides(redisPFAdd),
	})
}

func sketchSides(redis setupFunc) []Side {
	var sides []Side
	if redis != nil {
		sides = append(sides, Side{System: "redis", Label: redisLabel, Setup: redis})
	}
	return sides
}
