package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/lock"
)

type holderJSON struct {
	LeaseID          string `json:"lease_id"`
	Mode             string `json:"mode"`
	FenceToken       uint64 `json:"fence_token"`
	LeaseExpiresAtMs int64  `json:"lease_expires_at_ms"`
}

type lockInfoJSON struct {
	Key            string       `json:"key"`
	Holders        []holderJSON `json:"holders"`
	Waiters        int64        `json:"waiters"`
	LastFenceToken uint64       `json:"last_fence_token"`
}

func (a *app) lockCmd() *cobra.Command {
	var local bool
	scope := func() lock.Scope {
		if local {
			return lock.ScopeLocal
		}
		return lock.ScopeQuorum
	}
	info := &cobra.Command{
		Use: "info KEY", Short: "who holds a key and how many wait for it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			i, err := c.Locks().Inspect(ctx, args[0], scope())
			if err != nil {
				return err
			}
			j := lockInfoOf(args[0], i)
			return a.emit(j, func(w io.Writer) {
				kvTable(w, "key", j.Key, "holders", len(j.Holders), "waiters", j.Waiters, "last fence token", j.LastFenceToken)
				if len(j.Holders) > 0 {
					fmt.Fprintln(w)
					row(w, "LEASE", "MODE", "FENCE", "EXPIRES")
					for _, h := range j.Holders {
						row(w, h.LeaseID, h.Mode, h.FenceToken, ts(time.UnixMilli(h.LeaseExpiresAtMs)))
					}
				}
			})
		},
	}
	info.Flags().BoolVar(&local, "local", false, "the local-scope lock of the key")

	var ttl, wait time.Duration
	var shared bool
	acquire := &cobra.Command{
		Use:   "acquire KEY",
		Short: "take a lock and hold it, renewing the lease, until Ctrl-C; then release it",
		Long: `acquire takes the lock on KEY (waiting up to --wait when it is held), prints
its fence token, and holds it, renewing the lease every half --ttl, until
Ctrl-C (or SIGTERM), when it releases it. It fails with code expired when the
key stays held for longer than --wait, and exits 1 if the lease is lost.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ttl <= 0 {
				return usagef("--ttl %v: must be positive", ttl)
			}
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			cfg := lock.Config{MaxWait: wait, LeaseTTL: ttl, Scope: scope()}
			acq := c.Locks().Acquire
			if shared {
				acq = c.Locks().AcquireRead
			}
			actx, cancel := context.WithTimeout(ctx, wait+a.timeout)
			l, err := acq(actx, args[0], cfg)
			cancel()
			if err != nil {
				return err
			}
			r := l.SpawnRenewal(ttl / 2)
			defer r.Stop()
			j := map[string]any{"key": l.Key(), "event": "acquired", "fence_token": l.FenceToken(), "lease_expires_at_ms": l.LeaseExpiresAtMs()}
			if err := a.line(j, fmt.Sprintf("acquired %s fence token %d; holding until Ctrl-C", l.Key(), l.FenceToken())); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
			case <-l.Done():
			}
			if l.IsLost() {
				return fmt.Errorf("lock %s lost: %w", l.Key(), l.Err())
			}
			r.Stop()
			uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
			defer cancel()
			if err := l.Unlock(uctx); err != nil {
				return err
			}
			return a.line(map[string]any{"key": l.Key(), "event": "released", "fence_token": l.FenceToken()}, "released "+l.Key())
		},
	}
	acquire.Flags().DurationVar(&ttl, "ttl", 30*time.Second, "lease TTL; the lease is renewed every half of it")
	acquire.Flags().DurationVar(&wait, "wait", 0, "how long to wait when the key is held (0: fail at once)")
	acquire.Flags().BoolVar(&shared, "shared", false, "a shared (read) lock instead of an exclusive one")
	acquire.Flags().BoolVar(&local, "local", false, "the local-scope lock of the key")
	var prefix string
	ls := &cobra.Command{
		Use: "ls", Short: "the keys that are held or waited for (quorum scope), in key order", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				out := []lockInfoJSON{}
				for k, err := range c.Locks().List(ctx, prefix) {
					if err != nil {
						return err
					}
					out = append(out, lockInfoOf(k.Key, k.Info))
				}
				return a.emit(out, func(w io.Writer) {
					row(w, "KEY", "HOLDERS", "FENCE", "WAITERS", "EXPIRES")
					for _, k := range out {
						fence, expires := "-", "-"
						if len(k.Holders) > 0 {
							fence = fmt.Sprint(k.Holders[0].FenceToken)
							expires = ts(time.UnixMilli(k.Holders[0].LeaseExpiresAtMs))
						}
						row(w, k.Key, len(k.Holders), fence, k.Waiters, expires)
					}
				})
			})
		},
	}
	ls.Flags().StringVar(&prefix, "prefix", "", "only keys starting with this")

	release := &cobra.Command{
		Use:   "release KEY",
		Short: "end every lease holding KEY (an operator's Revoke); the next waiter gets it",
		Long: `release ends every lease holding KEY, whoever holds it: each holder's lock
is lost (its fence token is refused from then on) and the next waiter is
granted the key with a higher token. A lock this wm acquired with acquire is
released by Ctrl-C instead.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				n, err := c.Locks().Revoke(ctx, args[0])
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"key": args[0], "revoked": n}, func(w io.Writer) {
					fmt.Fprintf(w, "released %s: %d lease(s) ended\n", args[0], n)
				})
			})
		},
	}
	return group("lock", "distributed locks with fence tokens", ls, info, acquire, release)
}

func lockInfoOf(key string, i lock.Info) lockInfoJSON {
	j := lockInfoJSON{Key: key, Holders: []holderJSON{}, Waiters: i.Waiters, LastFenceToken: i.LastFenceToken}
	for _, h := range i.Holders {
		j.Holders = append(j.Holders, holderJSON{LeaseID: h.LeaseID, Mode: h.Mode.String(), FenceToken: h.FenceToken, LeaseExpiresAtMs: h.LeaseExpiresAtMs})
	}
	return j
}
