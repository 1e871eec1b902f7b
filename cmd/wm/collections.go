package main

import (
	"context"
	"fmt"
	"io"
	"iter"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/collections"
)

type storeJSON struct {
	Name        string     `json:"name"`
	Kind        string     `json:"kind"`
	Description string     `json:"description,omitempty"`
	Keys        int64      `json:"keys"`
	Bytes       int64      `json:"bytes"`
	Created     *time.Time `json:"created,omitempty"`
}

func storeOf(i collections.StoreInfo) storeJSON {
	return storeJSON{Name: i.Name, Kind: i.Kind.String(), Description: i.Description, Keys: i.Keys, Bytes: i.Bytes, Created: tsJSON(i.CreatedAt)}
}

// storeCmds are the ls, info, create and rm every collection kind has.
func (a *app) storeCmds(noun string, list func(context.Context, clientT) ([]collections.StoreInfo, error),
	create func(context.Context, clientT, string, string) error, del func(context.Context, clientT, string) error) []*cobra.Command {
	ls := &cobra.Command{
		Use: "ls", Short: "list " + noun + " stores", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			infos, err := list(ctx, c)
			if err != nil {
				return err
			}
			out := []storeJSON{}
			for _, i := range infos {
				out = append(out, storeOf(i))
			}
			return a.emit(out, func(w io.Writer) {
				row(w, "STORE", "KEYS", "BYTES", "CREATED")
				for _, s := range out {
					row(w, s.Name, s.Keys, bytesText(s.Bytes), tsPtr(s.Created))
				}
			})
		},
	}
	info := &cobra.Command{
		Use: "info STORE", Short: "a " + noun + " store's size", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			i, err := c.Collections().StoreInfo(ctx, args[0])
			if err != nil {
				return err
			}
			s := storeOf(i)
			return a.emit(s, func(w io.Writer) {
				kvTable(w, "store", s.Name, "kind", s.Kind, "description", s.Description, "keys", s.Keys, "bytes", bytesText(s.Bytes), "created", tsPtr(s.Created))
			})
		},
	}
	var desc string
	mk := &cobra.Command{
		Use: "create STORE", Short: "create a " + noun + " store", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return create(cmd.Context(), c, args[0], desc) },
				map[string]any{"store": args[0], "created": true}, "created "+noun+" store "+args[0])
		},
	}
	mk.Flags().StringVar(&desc, "description", "", "what the store is for")
	rm := &cobra.Command{
		Use: "rm STORE", Short: "delete a " + noun + " store and everything in it", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return del(cmd.Context(), c, args[0]) },
				map[string]any{"store": args[0], "deleted": true}, "deleted "+noun+" store "+args[0])
		},
	}
	return []*cobra.Command{ls, info, mk, rm}
}

// call runs fn under --timeout with a connected client.
func (a *app) call(cmd *cobra.Command, fn func(ctx context.Context, c clientT) error) error {
	ctx, cancel := a.oneShot(cmd)
	defer cancel()
	c, err := a.connect(ctx)
	if err != nil {
		return err
	}
	return fn(ctx, c)
}

func (a *app) hashCmd() *cobra.Command {
	cmds := a.storeCmds("hash",
		func(ctx context.Context, c clientT) ([]collections.StoreInfo, error) {
			return collectStores(c.Collections().List(ctx, collections.KindHash))
		},
		func(ctx context.Context, c clientT, name, desc string) error {
			_, err := c.Collections().CreateHashStore(ctx, collections.HashStoreConfig{Name: name, Description: desc})
			return err
		},
		func(ctx context.Context, c clientT, name string) error {
			return c.Collections().DeleteHashStore(ctx, name)
		})
	set := &cobra.Command{
		Use: "set STORE KEY FIELD VALUE [FIELD VALUE...]", Short: "set fields of a hash (HSET)", Args: cobra.MinimumNArgs(4),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args)%2 != 0 {
				return usagef("want FIELD VALUE pairs after STORE KEY, got %d words", len(args)-2)
			}
			fields := map[string][]byte{}
			for i := 2; i < len(args); i += 2 {
				fields[args[i]] = []byte(args[i+1])
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().HashStore(ctx, args[0])
				if err != nil {
					return err
				}
				h := s
				n, err := h.Set(ctx, args[1], fields)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"added": n}, func(w io.Writer) { fmt.Fprintf(w, "%d new fields\n", n) })
			})
		},
	}
	get := &cobra.Command{
		Use: "get STORE KEY FIELD", Short: "a field's value (HGET)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().HashStore(ctx, args[0])
				if err != nil {
					return err
				}
				v, err := s.Get(ctx, args[1], args[2])
				if err != nil {
					return err
				}
				j := struct {
					Field string `json:"field"`
					value
				}{args[2], valueOf(v)}
				return a.emit(j, func(w io.Writer) { fmt.Fprintln(w, j.value) })
			})
		},
	}
	getall := &cobra.Command{
		Use: "getall STORE KEY", Short: "every field of a hash (HGETALL)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().HashStore(ctx, args[0])
				if err != nil {
					return err
				}
				m, err := s.GetAll(ctx, args[1])
				if err != nil {
					return err
				}
				names := make([]string, 0, len(m))
				for f := range m {
					names = append(names, f)
				}
				sort.Strings(names)
				type fv struct {
					Field string `json:"field"`
					value
				}
				out := []fv{}
				for _, f := range names {
					out = append(out, fv{f, valueOf(m[f])})
				}
				return a.emit(out, func(w io.Writer) {
					row(w, "FIELD", "VALUE")
					for _, x := range out {
						row(w, x.Field, x.value)
					}
				})
			})
		},
	}
	del := &cobra.Command{
		Use: "del STORE KEY FIELD...", Short: "delete fields (HDEL)", Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().HashStore(ctx, args[0])
				if err != nil {
					return err
				}
				n, err := s.Del(ctx, args[1], args[2:]...)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"deleted": n}, func(w io.Writer) { fmt.Fprintf(w, "%d fields deleted\n", n) })
			})
		},
	}
	keys := &cobra.Command{
		Use: "keys STORE", Short: "a hash store's keys", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().HashStore(ctx, args[0])
				if err != nil {
					return err
				}
				out := []string{}
				for k, err := range s.AllKeys(ctx, collections.ScanOptions{}) {
					if err != nil {
						return err
					}
					out = append(out, k)
				}
				return a.emit(out, func(w io.Writer) {
					for _, k := range out {
						row(w, k)
					}
				})
			})
		},
	}
	return group("hash", "hash stores: keys of field -> value (HSET, HGET, ...)", append(cmds, set, get, getall, del, keys)...)
}

func (a *app) setCmd() *cobra.Command {
	cmds := a.storeCmds("set",
		func(ctx context.Context, c clientT) ([]collections.StoreInfo, error) {
			return collectStores(c.Collections().List(ctx, collections.KindSet))
		},
		func(ctx context.Context, c clientT, name, desc string) error {
			_, err := c.Collections().CreateSetStore(ctx, collections.SetStoreConfig{Name: name, Description: desc})
			return err
		},
		func(ctx context.Context, c clientT, name string) error {
			return c.Collections().DeleteSetStore(ctx, name)
		})
	count := func(use, short string, op func(s *collections.SetStore, ctx context.Context, key string, m ...string) (int64, error), what string) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short, Args: cobra.MinimumNArgs(3),
			RunE: func(cmd *cobra.Command, args []string) error {
				return a.call(cmd, func(ctx context.Context, c clientT) error {
					s, err := c.Collections().SetStore(ctx, args[0])
					if err != nil {
						return err
					}
					n, err := op(s, ctx, args[1], args[2:]...)
					if err != nil {
						return err
					}
					return a.emit(map[string]any{what: n}, func(w io.Writer) { fmt.Fprintf(w, "%d members %s\n", n, what) })
				})
			},
		}
	}
	add := count("add STORE KEY MEMBER...", "add members (SADD)", (*collections.SetStore).Add, "added")
	rem := count("rem STORE KEY MEMBER...", "remove members (SREM)", (*collections.SetStore).Rem, "removed")
	members := &cobra.Command{
		Use: "members STORE KEY", Short: "a set's members, sorted (SMEMBERS)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().SetStore(ctx, args[0])
				if err != nil {
					return err
				}
				m, err := s.Members(ctx, args[1])
				if err != nil {
					return err
				}
				sort.Strings(m)
				if m == nil {
					m = []string{}
				}
				return a.emit(m, func(w io.Writer) {
					for _, x := range m {
						row(w, x)
					}
				})
			})
		},
	}
	ismember := &cobra.Command{
		Use: "ismember STORE KEY MEMBER", Short: "whether MEMBER is in the set (SISMEMBER)", Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().SetStore(ctx, args[0])
				if err != nil {
					return err
				}
				ok, err := s.IsMember(ctx, args[1], args[2])
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"member": ok}, func(w io.Writer) { fmt.Fprintln(w, ok) })
			})
		},
	}
	card := &cobra.Command{
		Use: "card STORE KEY", Short: "how many members (SCARD)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().SetStore(ctx, args[0])
				if err != nil {
					return err
				}
				n, err := s.Card(ctx, args[1])
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"card": n}, func(w io.Writer) { fmt.Fprintln(w, n) })
			})
		},
	}
	return group("set", "set stores: keys of member sets (SADD, SMEMBERS, ...)", append(cmds, add, rem, members, ismember, card)...)
}

type queueMsgJSON struct {
	ID           string `json:"id"`
	Receipt      string `json:"receipt,omitempty"`
	ReceiveCount int    `json:"receive_count"`
	value
	PushedAt *time.Time `json:"pushed_at,omitempty"`
	Acked    bool       `json:"acked,omitempty"`
}

func (a *app) queueCmd() *cobra.Command {
	cmds := a.storeCmds("queue",
		func(ctx context.Context, c clientT) ([]collections.StoreInfo, error) {
			return collectStores(c.Collections().List(ctx, collections.KindQueue))
		},
		func(ctx context.Context, c clientT, name, desc string) error {
			_, err := c.Collections().CreateQueue(ctx, collections.QueueConfig{Name: name, Description: desc})
			return err
		},
		func(ctx context.Context, c clientT, name string) error { return c.Collections().DeleteQueue(ctx, name) })
	push := &cobra.Command{
		Use: "push QUEUE [DATA|-]", Short: "push a message (from stdin when DATA is - or missing)", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := a.payload(args, 1)
			if err != nil {
				return err
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().Queue(ctx, args[0])
				if err != nil {
					return err
				}
				r, err := s.Push(ctx, data)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"id": r.ID, "duplicate": r.Duplicate}, func(w io.Writer) { fmt.Fprintln(w, "pushed", r.ID) })
			})
		},
	}
	var wait time.Duration
	var ack bool
	var n int
	pop := &cobra.Command{
		Use: "pop QUEUE", Short: "receive messages (invisible to others until acked or timed out; --ack acks them)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if n < 1 {
				return usagef("--count %d: want at least 1", n)
			}
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().Queue(ctx, args[0])
				if err != nil {
					return err
				}
				q := s
				msgs, err := q.PopBatch(ctx, wait, n)
				if err != nil {
					return err
				}
				out := []queueMsgJSON{}
				for _, m := range msgs {
					j := queueMsgJSON{ID: m.ID, Receipt: m.Receipt, ReceiveCount: m.ReceiveCount, value: valueOf(m.Payload), PushedAt: tsJSON(m.PushedAt)}
					if ack {
						if err := q.Ack(ctx, m.Receipt); err != nil {
							return err
						}
						j.Acked = true
					}
					out = append(out, j)
				}
				return a.printQueueMsgs(out, wait)
			})
		},
	}
	pop.Flags().DurationVar(&wait, "wait", time.Second, "how long to wait for a message")
	pop.Flags().BoolVar(&ack, "ack", false, "acknowledge what was received (removes it)")
	pop.Flags().IntVarP(&n, "count", "n", 1, "how many messages at most")
	var peekN int
	peek := &cobra.Command{
		Use: "peek QUEUE", Short: "look at the next ready messages without receiving them", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().Queue(ctx, args[0])
				if err != nil {
					return err
				}
				msgs, err := s.Peek(ctx, peekN)
				if err != nil {
					return err
				}
				out := []queueMsgJSON{}
				for _, m := range msgs {
					out = append(out, queueMsgJSON{ID: m.ID, ReceiveCount: m.ReceiveCount, value: valueOf(m.Payload), PushedAt: tsJSON(m.PushedAt)})
				}
				return a.printQueueMsgs(out, 0)
			})
		},
	}
	peek.Flags().IntVarP(&peekN, "count", "n", 10, "how many messages at most")
	qlen := &cobra.Command{
		Use: "len QUEUE", Short: "how many messages are ready, in flight and delayed", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().Queue(ctx, args[0])
				if err != nil {
					return err
				}
				l, err := s.Len(ctx)
				if err != nil {
					return err
				}
				j := map[string]any{"ready": l.Ready, "in_flight": l.InFlight, "delayed": l.Delayed, "total": l.Total()}
				return a.emit(j, func(w io.Writer) {
					kvTable(w, "ready", l.Ready, "in flight", l.InFlight, "delayed", l.Delayed, "total", l.Total())
				})
			})
		},
	}
	purge := &cobra.Command{
		Use: "purge QUEUE", Short: "drop every message", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.call(cmd, func(ctx context.Context, c clientT) error {
				s, err := c.Collections().Queue(ctx, args[0])
				if err != nil {
					return err
				}
				n, err := s.Purge(ctx)
				if err != nil {
					return err
				}
				return a.emit(map[string]any{"purged": n}, func(w io.Writer) { fmt.Fprintf(w, "%d messages purged\n", n) })
			})
		},
	}
	return group("queue", "reliable queues: push, pop with visibility timeout, ack", append(cmds, push, pop, peek, qlen, purge)...)
}

func (a *app) printQueueMsgs(out []queueMsgJSON, wait time.Duration) error {
	return a.emit(out, func(w io.Writer) {
		if len(out) == 0 {
			fmt.Fprintf(w, "no message ready%s\n", map[bool]string{true: " within " + wait.String(), false: ""}[wait > 0])
			return
		}
		row(w, "ID", "RECEIVED", "ACKED", "DATA")
		for _, m := range out {
			row(w, m.ID, m.ReceiveCount, m.Acked, m.value)
		}
	})
}

// collectStores gathers a store listing.
func collectStores(seq iter.Seq2[collections.StoreInfo, error]) ([]collections.StoreInfo, error) {
	var out []collections.StoreInfo
	for s, err := range seq {
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
