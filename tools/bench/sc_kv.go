package main

func init() {
	register(&Case{
		Group: "kv", Name: "put",
		Note:     "Put of one key per worker, value of the payload size, in a bucket with history 1 held in memory",
		Payloads: payloadSizes,
		Sides:    kvSides(wmKVPut, natsKVPut),
	})
	register(&Case{
		Group: "kv", Name: "get",
		Note:     "Get of one existing key per worker, value of the payload size",
		Payloads: payloadSizes,
		Sides:    kvSides(wmKVGet, natsKVGet),
	})
	register(&Case{
		Group: "kv", Name: "update",
		Note:     "compare-and-set Update of one key per worker at its last revision, 128 B value",
		Payloads: []int{128},
		Sides:    kvSides(wmKVUpdate, natsKVUpdate),
	})
	register(&Case{
		Group: "kv", Name: "watch-fanout",
		Note:   "one Put of a 128 B value, timed until every watcher of that key has received it; the level is the number of watchers",
		FanOut: "watchers",
		Conc:   []int{1, 16, 64, 256},
		Sides:  kvSides(wmKVFanOut, natsKVFanOut),
	})
}

func kvSides(wm, nats setupFunc) []Side {
	return []Side{
		{System: "waymaker", Label: wmKV, Peer: natsKV, Setup: wm},
		{System: "nats", Label: natsKV, Setup: nats},
	}
}
