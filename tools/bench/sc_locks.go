package main

func init() {
	register(&Case{
		Group: "locks", Name: "acquire-unlock",
		Note:  "acquire and release an uncontended lock, one key per worker (waymaker: Acquire, which also opens the lease's event stream, then Unlock; etcd: Mutex.Lock then Unlock on a per-worker session)",
		Sides: lockSides(wmLockCycle, etcdLockCycle),
	})
	register(&Case{
		Group: "locks", Name: "try-contended",
		Note:  "a try-lock (no wait) on a key another client holds: the failure path",
		Sides: lockSides(wmTryContended, etcdTryContended),
	})
	register(&Case{
		Group: "locks", Name: "renew",
		Note:  "one lease renewal of a held lock per operation, one lock per worker (waymaker: Lock.Renew, as SpawnRenewal calls it; etcd: Lease.KeepAliveOnce of the session's lease, which etcd's leader answers from memory without a log write, while a waymaker renewal goes through raft)",
		Sides: lockSides(wmRenew, etcdRenew),
	})
}

// lockSides: etcd is always durable, so the like-for-like ratio is against
// waymaker with a data dir; waymaker in memory is shown for context.
func lockSides(wm func(func(*Env) *wmSys) setupFunc, etcd setupFunc) []Side {
	return []Side{
		{System: "waymaker", Label: wmMem, Setup: wm(memWM)},
		{System: "waymaker-disk", Label: wmDisk, Peer: etcdMutex, Setup: wm(diskWM)},
		{System: "etcd", Label: etcdMutex, Setup: etcd},
	}
}
