package main

func init() {
	register(&Case{
		Group: "locks", Name: "acquire-unlock",
		Note:  "acquire and release an uncontended lock, one key per worker",
		Sides: lockSides(etcdLockCycle),
	})
	register(&Case{
		Group: "locks", Name: "try-contended",
		Note:  "a try-lock (no wait) on a key another client holds: the failure path",
		Sides: lockSides(etcdTryContended),
	})
	register(&Case{
		Group: "locks", Name: "renew",
		Note:  "one lease renewal of a held lock per operation, one lock per worker",
		Sides: lockSides(etcdRenew),
	})
}

func lockSides(etcd setupFunc) []Side {
	return []Side{
		{System: "etcd", Label: etcdMutex, Setup: etcd},
	}
}
