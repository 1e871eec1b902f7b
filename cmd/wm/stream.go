package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"git.awesomike.com/pub/waymaker-client/go/stream"
)

type streamJSON struct {
	Name        string     `json:"name"`
	Description string     `json:"description,omitempty"`
	Subjects    []string   `json:"subjects"`
	Retention   string     `json:"retention"`
	MaxMsgs     int64      `json:"max_msgs"`
	MaxBytes    int64      `json:"max_bytes"`
	MaxAgeMs    int64      `json:"max_age_ms"`
	Msgs        int64      `json:"msgs"`
	Bytes       int64      `json:"bytes"`
	FirstSeq    uint64     `json:"first_seq"`
	LastSeq     uint64     `json:"last_seq"`
	Consumers   int        `json:"consumers"`
	Created     *time.Time `json:"created,omitempty"`
}

func streamOf(i *stream.Info) streamJSON {
	return streamJSON{Name: i.Config.Name, Description: i.Config.Description, Subjects: i.Config.Subjects,
		Retention: i.Config.Retention.String(), MaxMsgs: i.Config.MaxMsgs, MaxBytes: i.Config.MaxBytes,
		MaxAgeMs: i.Config.MaxAge.Milliseconds(), Msgs: i.State.Msgs, Bytes: i.State.Bytes,
		FirstSeq: i.State.FirstSeq, LastSeq: i.State.LastSeq, Consumers: i.State.ConsumerCount, Created: tsJSON(i.Created)}
}

type msgJSON struct {
	Stream   string `json:"stream"`
	Subject  string `json:"subject"`
	Sequence uint64 `json:"sequence"`
	value
	MsgID     string     `json:"msg_id,omitempty"`
	Delivered uint32     `json:"num_delivered,omitempty"`
	Time      *time.Time `json:"time,omitempty"`
	Acked     bool       `json:"acked,omitempty"`
}

func msgOf(m *stream.Msg) msgJSON {
	return msgJSON{Stream: m.Stream, Subject: m.Subject, Sequence: m.StreamSeq, value: valueOf(m.Payload),
		MsgID: m.MsgID, Delivered: m.NumDelivered, Time: tsJSON(m.Timestamp)}
}

func (a *app) streamCmd() *cobra.Command {
	ls := &cobra.Command{
		Use: "ls", Short: "list streams", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			out := []streamJSON{}
			for i, err := range c.Streams().List(ctx) {
				if err != nil {
					return err
				}
				out = append(out, streamOf(i))
			}
			return a.emit(out, func(w io.Writer) {
				row(w, "STREAM", "SUBJECTS", "MSGS", "BYTES", "LAST SEQ", "CONSUMERS", "CREATED")
				for _, s := range out {
					row(w, s.Name, strings.Join(s.Subjects, ","), s.Msgs, bytesText(s.Bytes), s.LastSeq, s.Consumers, tsPtr(s.Created))
				}
			})
		},
	}
	info := &cobra.Command{
		Use: "info STREAM", Short: "a stream's configuration and contents", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			i, err := c.Streams().Stream(args[0]).Info(ctx)
			if err != nil {
				return err
			}
			return a.printStream(i)
		},
	}
	var cfg stream.Config
	var retention string
	add := &cobra.Command{
		Use: "add STREAM --subjects a.>,b.*", Short: "create a stream", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg.Name = args[0]
			switch retention {
			case "limits":
				cfg.Retention = stream.RetentionLimits
			case "interest":
				cfg.Retention = stream.RetentionInterest
			case "workqueue":
				cfg.Retention = stream.RetentionWorkQueue
			default:
				return usagef("--retention %q: want limits, interest or workqueue", retention)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			s, err := c.Streams().Create(ctx, cfg)
			if err != nil {
				return err
			}
			i, err := s.Info(ctx)
			if err != nil {
				return err
			}
			return a.printStream(i)
		},
	}
	add.Flags().StringSliceVar(&cfg.Subjects, "subjects", nil, "subjects the stream stores (wildcards * and >)")
	add.Flags().StringVar(&cfg.Description, "description", "", "what the stream is for")
	add.Flags().StringVar(&retention, "retention", "limits", "limits, interest or workqueue")
	add.Flags().Int64Var(&cfg.MaxMsgs, "max-msgs", 0, "messages kept (default unbounded)")
	add.Flags().Int64Var(&cfg.MaxBytes, "max-bytes", 0, "bytes kept (default unbounded)")
	add.Flags().DurationVar(&cfg.MaxAge, "max-age", 0, "how long a message is kept (default forever)")
	_ = add.MarkFlagRequired("subjects")

	rm := &cobra.Command{
		Use: "rm STREAM", Short: "delete a stream, its messages and consumers", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.Streams().Delete(cmd.Context(), args[0]) },
				map[string]any{"stream": args[0], "deleted": true}, "deleted stream "+args[0])
		},
	}
	var msgID string
	pub := &cobra.Command{
		Use: "pub STREAM SUBJECT [DATA|-]", Short: "publish a message (from stdin when DATA is - or missing)", Args: cobra.RangeArgs(2, 3),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := a.payload(args, 2)
			if err != nil {
				return err
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			var opts []stream.PublishOption
			if msgID != "" {
				opts = append(opts, stream.WithMsgID(msgID))
			}
			ack, err := c.Streams().Stream(args[0]).Publish(ctx, args[1], data, opts...)
			if err != nil {
				return err
			}
			j := map[string]any{"stream": ack.Stream, "sequence": ack.Sequence, "duplicate": ack.Duplicate}
			return a.emit(j, func(w io.Writer) {
				dup := ""
				if ack.Duplicate {
					dup = " (duplicate: stored before)"
				}
				fmt.Fprintf(w, "published to %s sequence %d%s\n", ack.Stream, ack.Sequence, dup)
			})
		},
	}
	pub.Flags().StringVar(&msgID, "msg-id", "", "deduplication id: a second publish with it is not stored again")

	var all bool
	sub := &cobra.Command{
		Use: "sub STREAM [SUBJECT]", Short: "print new messages (--all: stored ones first) until Ctrl-C", Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			cc := stream.ConsumerConfig{DeliverPolicy: stream.DeliverNew, AckPolicy: stream.AckNone}
			if all {
				cc.DeliverPolicy = stream.DeliverAll
			}
			if len(args) == 2 {
				cc.FilterSubjects = []string{args[1]}
			}
			cons, err := c.Streams().Stream(args[0]).CreateConsumer(ctx, cc)
			if err != nil {
				return err
			}
			defer func() {
				// The server would reap the idle ephemeral consumer anyway;
				// deleting it at once keeps `consumer ls` truthful.
				dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
				defer cancel()
				_ = cons.Delete(dctx)
			}()
			for m, err := range cons.All(ctx) {
				if err != nil {
					return stopped(ctx, err)
				}
				j := msgOf(m)
				if err := a.line(j, fmt.Sprintf("[%d] %s %s", j.Sequence, j.Subject, j.value)); err != nil {
					return err
				}
			}
			return nil
		},
	}
	sub.Flags().BoolVar(&all, "all", false, "deliver the stored messages first")

	return group("stream", "streams: publish, subscribe, consumers", ls, info, add, rm, pub, sub, a.consumerCmd(), a.nextCmd())
}

func (a *app) printStream(i *stream.Info) error {
	s := streamOf(i)
	return a.emit(s, func(w io.Writer) {
		kvTable(w, "stream", s.Name, "description", s.Description, "subjects", strings.Join(s.Subjects, ","),
			"retention", s.Retention, "messages", s.Msgs, "bytes", bytesText(s.Bytes),
			"first seq", s.FirstSeq, "last seq", s.LastSeq, "consumers", s.Consumers,
			"max msgs", s.MaxMsgs, "max bytes", s.MaxBytes, "max age", dur(time.Duration(s.MaxAgeMs)*time.Millisecond),
			"created", tsPtr(s.Created))
	})
}

type consumerJSON struct {
	Stream        string     `json:"stream"`
	Name          string     `json:"name"`
	Filter        []string   `json:"filter_subjects,omitempty"`
	AckWaitMs     int64      `json:"ack_wait_ms"`
	Delivered     uint64     `json:"delivered_stream_seq"`
	AckFloor      uint64     `json:"ack_floor_stream_seq"`
	NumPending    uint64     `json:"num_pending"`
	NumAckPending int64      `json:"num_ack_pending"`
	Redelivered   int64      `json:"num_redelivered"`
	Created       *time.Time `json:"created,omitempty"`
}

func consumerOf(i *stream.ConsumerInfo) consumerJSON {
	return consumerJSON{Stream: i.Stream, Name: i.Name, Filter: i.Config.FilterSubjects, AckWaitMs: i.Config.AckWait.Milliseconds(),
		Delivered: i.Delivered.Stream, AckFloor: i.AckFloor.Stream, NumPending: i.NumPending,
		NumAckPending: i.NumAckPending, Redelivered: i.NumRedelivered, Created: tsJSON(i.Created)}
}

// consumerCmd is `wm stream consumer ...`, also reachable as `wm consumer ...`.
func (a *app) consumerCmd() *cobra.Command {
	ls := &cobra.Command{
		Use: "ls STREAM", Short: "list a stream's consumers", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			out := []consumerJSON{}
			for i, err := range c.Streams().Stream(args[0]).ListConsumers(ctx) {
				if err != nil {
					return err
				}
				out = append(out, consumerOf(i))
			}
			return a.emit(out, func(w io.Writer) {
				row(w, "CONSUMER", "FILTER", "PENDING", "ACK PENDING", "REDELIVERED", "CREATED")
				for _, c := range out {
					row(w, c.Name, strings.Join(c.Filter, ","), c.NumPending, c.NumAckPending, c.Redelivered, tsPtr(c.Created))
				}
			})
		},
	}
	info := &cobra.Command{
		Use: "info STREAM CONSUMER", Short: "a consumer's configuration and position", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			i, err := c.Streams().Stream(args[0]).Consumer(args[1]).Info(ctx)
			if err != nil {
				return err
			}
			return a.printConsumer(i)
		},
	}
	var cc stream.ConsumerConfig
	var deliver string
	add := &cobra.Command{
		Use: "add STREAM CONSUMER", Short: "create a durable consumer (explicit acks)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			cc.DurableName = args[1]
			switch deliver {
			case "all":
				cc.DeliverPolicy = stream.DeliverAll
			case "new":
				cc.DeliverPolicy = stream.DeliverNew
			case "last":
				cc.DeliverPolicy = stream.DeliverLast
			default:
				return usagef("--deliver %q: want all, new or last", deliver)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			cons, err := c.Streams().Stream(args[0]).CreateConsumer(ctx, cc)
			if err != nil {
				return err
			}
			i, err := cons.Info(ctx)
			if err != nil {
				return err
			}
			return a.printConsumer(i)
		},
	}
	add.Flags().StringSliceVar(&cc.FilterSubjects, "filter", nil, "deliver only these subjects (wildcards allowed)")
	add.Flags().StringVar(&deliver, "deliver", "all", "where it starts: all, new or last")
	add.Flags().DurationVar(&cc.AckWait, "ack-wait", 0, "redeliver a message not acked within this (default 30s)")
	add.Flags().IntVar(&cc.MaxDeliver, "max-deliver", 0, "delivery attempts per message (default unbounded)")

	rm := &cobra.Command{
		Use: "rm STREAM CONSUMER", Short: "delete a consumer", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.simple(cmd, func(c clientT) error { return c.Streams().Stream(args[0]).DeleteConsumer(cmd.Context(), args[1]) },
				map[string]any{"stream": args[0], "consumer": args[1], "deleted": true}, "deleted consumer "+args[1])
		},
	}
	return group("consumer", "a stream's consumers", ls, info, add, rm)
}

// nextCmd is `wm stream next STREAM CONSUMER`: fetch and print messages.
func (a *app) nextCmd() *cobra.Command {
	var ack bool
	var count int
	var wait time.Duration
	c := &cobra.Command{
		Use: "next STREAM CONSUMER", Short: "fetch the next messages of a consumer (--ack to ack them)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if count < 1 {
				return usagef("--count %d: want at least 1", count)
			}
			ctx, cancel := a.oneShot(cmd)
			defer cancel()
			c, err := a.connect(ctx)
			if err != nil {
				return err
			}
			cons := c.Streams().Stream(args[0]).Consumer(args[1])
			msgs, err := cons.Fetch(ctx, count, wait)
			if err != nil {
				return err
			}
			out := make([]msgJSON, len(msgs))
			for i, m := range msgs {
				out[i] = msgOf(m)
			}
			if ack && len(msgs) > 0 {
				if err := cons.Ack(ctx, msgs...); err != nil {
					return err
				}
				for i := range out {
					out[i].Acked = true
				}
			}
			return a.emit(out, func(w io.Writer) {
				if len(out) == 0 {
					fmt.Fprintf(w, "no message within %v\n", wait)
					return
				}
				row(w, "SEQ", "SUBJECT", "DELIVERED", "ACKED", "DATA")
				for _, m := range out {
					row(w, m.Sequence, m.Subject, m.Delivered, m.Acked, m.value)
				}
			})
		},
	}
	c.Flags().BoolVar(&ack, "ack", false, "acknowledge what was fetched")
	c.Flags().IntVarP(&count, "count", "n", 1, "how many messages at most")
	c.Flags().DurationVar(&wait, "wait", time.Second, "how long to wait for the first message")
	return c
}

func (a *app) printConsumer(i *stream.ConsumerInfo) error {
	c := consumerOf(i)
	return a.emit(c, func(w io.Writer) {
		kvTable(w, "stream", c.Stream, "consumer", c.Name, "filter", strings.Join(c.Filter, ","),
			"ack wait", dur(time.Duration(c.AckWaitMs)*time.Millisecond), "delivered up to", c.Delivered,
			"ack floor", c.AckFloor, "pending", c.NumPending, "ack pending", c.NumAckPending,
			"redelivered", c.Redelivered, "created", tsPtr(c.Created))
	})
}
