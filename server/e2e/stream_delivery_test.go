package e2e

import (
	"errors"
	"fmt"
	"sort"
	"testing"
	"time"

	waymaker "git.awesomike.com/pub/waymaker-client/go"
	"git.awesomike.com/pub/waymaker-client/go/server/waymakertest"
)

func publishN(t testing.TB, s *waymaker.Stream, subject string, n int) {
	t.Helper()
	ctx := testCtx(t, 30*time.Second)
	for i := range n {
		if _, err := s.Publish(ctx, subject, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStreamRedeliveryAfterAckWait(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 2)
	cons, it := pushMessages(t, ctx, s, waymaker.ConsumerConfig{DurableName: "d", AckWait: 200 * time.Millisecond})
	first := next(t, it, 5*time.Second)
	second := next(t, it, 5*time.Second)
	if err := second.AckSync(ctx); err != nil { // only the second is acked
		t.Fatal(err)
	}
	again := next(t, it, 5*time.Second)
	if again.StreamSeq != first.StreamSeq || again.NumDelivered != 2 || again.ConsumerSeq <= second.ConsumerSeq {
		t.Fatalf("redelivery = %+v, want seq %d delivery 2", again, first.StreamSeq)
	}
	if time.Since(again.Timestamp) < 200*time.Millisecond {
		t.Fatalf("redelivered before AckWait")
	}
	if err := again.AckSync(ctx); err != nil {
		t.Fatal(err)
	}
	// An ack of the superseded first delivery still counts (idempotent).
	if err := first.AckSync(ctx); err != nil {
		t.Fatalf("late ack: %v", err)
	}
	info, _ := cons.Info(ctx)
	if info.NumAckPending != 0 || info.NumRedelivered != 1 || info.AckFloor.Stream != 2 {
		t.Fatalf("info = %+v", info)
	}
}

func TestStreamMaxDeliverDropsAndReports(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 1)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: 100 * time.Millisecond, MaxDeliver: 2})
	if err != nil {
		t.Fatal(err)
	}
	for want := uint32(1); want <= 2; want++ {
		msgs, err := cons.Fetch(ctx, 1, 5*time.Second)
		if err != nil || len(msgs) != 1 || msgs[0].NumDelivered != want {
			t.Fatalf("attempt %d: %v, %v", want, msgs, err)
		}
	}
	// After the second ack wait the message is dropped: nothing more comes.
	if !eventually(5*time.Second, func() bool {
		if msgs, _ := cons.Fetch(ctx, 1, 50*time.Millisecond); len(msgs) != 0 {
			t.Fatalf("third delivery %+v despite MaxDeliver 2", msgs[0])
		}
		info, err := cons.Info(ctx)
		return err == nil && info.NumDropped == 1 && info.NumAckPending == 0
	}) {
		t.Fatal("message not dropped after MaxDeliver")
	}
	if msgs, err := cons.Fetch(ctx, 1, 300*time.Millisecond); err != nil || len(msgs) != 0 {
		t.Fatalf("after drop: %v, %v", msgs, err)
	}
}

func TestStreamNakTermInProgress(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 3)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(ctx, 3, time.Second)
	if err != nil || len(msgs) != 3 {
		t.Fatalf("fetch = %v, %v", msgs, err)
	}
	if err := msgs[0].Nak(ctx); err != nil {
		t.Fatal(err)
	}
	if err := msgs[1].Term(ctx); err != nil {
		t.Fatal(err)
	}
	// Nak: redelivered at once, as attempt 2.
	again, err := cons.Fetch(ctx, 3, time.Second)
	if err != nil || len(again) != 1 || again[0].StreamSeq != 1 || again[0].NumDelivered != 2 {
		t.Fatalf("after nak = %+v, %v", again, err)
	}
	// A nak of the superseded delivery answers not_owner.
	if err := msgs[0].Nak(ctx); !errors.Is(err, waymaker.ErrNotOwner) {
		t.Fatalf("stale nak = %v", err)
	}
	if err := again[0].AckSync(ctx); err != nil {
		t.Fatal(err)
	}
	// InProgress keeps the third one from being redelivered past its first
	// AckWait; it comes back only after the renewed wait.
	start := time.Now()
	stop := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(stop) {
		if err := msgs[2].InProgress(ctx); err != nil {
			t.Fatal(err)
		}
		if got, _ := cons.Fetch(ctx, 1, 100*time.Millisecond); len(got) != 0 {
			t.Fatalf("redelivered while in progress: %+v", got[0])
		}
	}
	redo, err := cons.Fetch(ctx, 1, 3*time.Second)
	if err != nil || len(redo) != 1 || redo[0].StreamSeq != 3 || time.Since(start) < 1500*time.Millisecond {
		t.Fatalf("after in-progress stopped = %+v, %v", redo, err)
	}
	if err := redo[0].NakWithDelay(ctx, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if got, _ := cons.Fetch(ctx, 1, 100*time.Millisecond); len(got) != 0 {
		t.Fatal("redelivered before the nak delay")
	}
	late, err := cons.Fetch(ctx, 1, 3*time.Second)
	if err != nil || len(late) != 1 || late[0].NumDelivered != 3 {
		t.Fatalf("after nak delay = %+v, %v", late, err)
	}
}

func TestStreamFetchWaitsAndBatches(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := cons.Fetch(ctx, 10, 0); err != nil || len(got) != 0 {
		t.Fatalf("empty fetch = %v, %v", got, err)
	}
	done := make(chan []*waymaker.Msg, 1)
	go func() {
		got, _ := cons.Fetch(ctx, 10, 10*time.Second)
		done <- got
	}()
	publishN(t, s, s.Name(), 1)
	if got := <-done; len(got) != 1 {
		t.Fatalf("waiting fetch = %v", got)
	}
	publishN(t, s, s.Name(), 25)
	got, err := cons.Fetch(ctx, 10, time.Second)
	if err != nil || len(got) != 10 || got[0].StreamSeq != 2 || got[9].StreamSeq != 11 || got[0].NumPending == 0 {
		t.Fatalf("batch = %d msgs, %v", len(got), err)
	}
}

func TestStreamMaxAckPendingBoundsInFlight(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 10)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", MaxAckPending: 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Fetch(ctx, 10, time.Second)
	if err != nil || len(got) != 3 {
		t.Fatalf("fetch = %d, %v; want 3 (MaxAckPending)", len(got), err)
	}
	if more, _ := cons.Fetch(ctx, 10, 100*time.Millisecond); len(more) != 0 {
		t.Fatalf("delivered %d beyond MaxAckPending", len(more))
	}
	if err := got[0].AckSync(ctx); err != nil {
		t.Fatal(err)
	}
	if more, _ := cons.Fetch(ctx, 10, time.Second); len(more) != 1 || more[0].StreamSeq != 4 {
		t.Fatalf("after one ack = %v", more)
	}
}

func TestStreamAckAllAndAckNone(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 5)
	all, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "all", AckPolicy: waymaker.AckAll})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := all.Fetch(ctx, 5, time.Second)
	if len(got) != 5 {
		t.Fatalf("fetch = %d", len(got))
	}
	if err := got[3].AckSync(ctx); err != nil {
		t.Fatal(err)
	}
	if info, _ := all.Info(ctx); info.NumAckPending != 1 || info.AckFloor.Stream != 4 {
		t.Fatalf("AckAll info = %+v", info)
	}
	none, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "none", AckPolicy: waymaker.AckNone})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := none.Fetch(ctx, 5, time.Second); len(got) != 5 {
		t.Fatalf("AckNone fetch = %d", len(got))
	}
	if info, _ := none.Info(ctx); info.NumAckPending != 0 || info.AckFloor.Stream != 5 {
		t.Fatalf("AckNone info = %+v", info)
	}
}

func TestStreamBackoffSchedulesRedeliveries(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 1)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "b", AckWait: time.Minute,
		Backoff: []time.Duration{100 * time.Millisecond, 400 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	// Delivery i happened on the server between the start and the end of
	// fetch i, so redelivery i+1 came at least one backoff step after the
	// start of fetch i: compare end[i+1] with start[i], never end with end,
	// which a slow reply to the earlier fetch would shorten. Server time is
	// in whole milliseconds, hence the 2ms of slack.
	var start, end []time.Time
	for range 3 {
		start = append(start, time.Now())
		got, err := cons.Fetch(ctx, 1, 5*time.Second)
		if err != nil || len(got) != 1 {
			t.Fatalf("fetch = %v, %v", got, err)
		}
		end = append(end, time.Now())
	}
	const slack = 2 * time.Millisecond
	if d := end[1].Sub(start[0]); d < 100*time.Millisecond-slack || d > 2*time.Second {
		t.Fatalf("first redelivery after %v, want the 100ms backoff step", d)
	}
	if d := end[2].Sub(start[1]); d < 400*time.Millisecond-slack || d > 3*time.Second {
		t.Fatalf("second redelivery after %v, want the 400ms backoff step", d)
	}
}

func TestStreamTwoIteratorsShareOneConsumer(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "shared"})
	if err != nil {
		t.Fatal(err)
	}
	a, err := cons.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	b, err := cons.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Stop()
	const n = 200
	publishN(t, s, s.Name(), n)
	seen := map[uint64]int{}
	got := make(chan uint64, n)
	for _, it := range []*waymaker.Messages{a, b} {
		go func() {
			for {
				m, err := it.Next()
				if err != nil {
					return
				}
				_ = m.Ack(ctx)
				got <- m.StreamSeq
			}
		}()
	}
	for range n {
		select {
		case seq := <-got:
			seen[seq]++
		case <-ctx.Done():
			t.Fatalf("got %d of %d", len(seen), n)
		}
	}
	for seq, k := range seen {
		if k != 1 {
			t.Fatalf("seq %d delivered %d times", seq, k)
		}
	}
	if len(seen) != n {
		t.Fatalf("distinct = %d", len(seen))
	}
}

func TestStreamDeliverPolicies(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	for _, subj := range []string{"a", "b", "a", "b", "c"} {
		if _, err := s.Publish(ctx, s.Name()+"."+subj, []byte(subj)); err != nil {
			t.Fatal(err)
		}
	}
	mid := time.Now()
	first := func(cfg waymaker.ConsumerConfig) []uint64 {
		t.Helper()
		cons, err := s.CreateConsumer(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cons.Fetch(ctx, 10, 100*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []uint64
		for _, m := range got {
			seqs = append(seqs, m.StreamSeq)
		}
		sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
		return seqs
	}
	for _, tc := range []struct {
		cfg  waymaker.ConsumerConfig
		want string
	}{
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverAll}, "[1 2 3 4 5]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverLast}, "[5]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverLast, FilterSubjects: []string{s.Name() + ".a"}}, "[3]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverNew}, "[]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverByStartSeq, OptStartSeq: 4}, "[4 5]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverByStartTime, OptStartTime: mid.Add(time.Hour)}, "[]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverByStartTime, OptStartTime: mid.Add(-time.Hour)}, "[1 2 3 4 5]"},
		{waymaker.ConsumerConfig{DeliverPolicy: waymaker.DeliverLastPerSubject}, "[3 4 5]"},
		{waymaker.ConsumerConfig{FilterSubjects: []string{s.Name() + ".b", s.Name() + ".c"}}, "[2 4 5]"},
	} {
		if got := fmt.Sprint(first(tc.cfg)); got != tc.want {
			t.Errorf("%+v delivered %s, want %s", tc.cfg, got, tc.want)
		}
	}
}

func TestStreamEphemeralConsumerIsReaped(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	eph, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{InactiveThreshold: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if eph.Name() == "" {
		t.Fatal("ephemeral has no name")
	}
	// While a Messages stream is bound it stays.
	it, err := eph.Messages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	publishN(t, s, s.Name(), 1)
	next(t, it, 5*time.Second)
	// Twice its threshold later, it is still there.
	if eventually(2*time.Second, func() bool {
		_, err := eph.Info(ctx)
		return err != nil
	}) {
		t.Fatal("bound ephemeral was reaped")
	}
	it.Stop()
	if !eventually(10*time.Second, func() bool {
		_, err := eph.Info(ctx)
		return errors.Is(err, waymaker.ErrNotFound)
	}) {
		t.Fatal("idle ephemeral not reaped")
	}
	var names []string
	for ci, err := range s.ListConsumers(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, ci.Name)
	}
	if len(names) != 0 {
		t.Fatalf("consumers left: %v", names)
	}
}

// eventually polls cond every 10ms until it holds (true) or d passes
// (false). Tests use it to wait for a server-side event with a deadline.
func eventually(d time.Duration, cond func() bool) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		if cond() {
			return true
		}
		select {
		case <-tick.C:
		case <-deadline.C:
			return cond()
		}
	}
}

func TestStreamConsumerBatchAck(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 50)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Fetch(ctx, 50, time.Second)
	if err != nil || len(got) != 50 {
		t.Fatalf("fetch = %d, %v", len(got), err)
	}
	if err := cons.Ack(ctx, got...); err != nil {
		t.Fatal(err)
	}
	if info, _ := cons.Info(ctx); info.NumAckPending != 0 || info.AckFloor.Stream != 50 {
		t.Fatalf("after batch ack: %+v", info)
	}
	other, _ := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "o"})
	wantCode(t, other.Ack(ctx, got[0]), "invalid", "invalid_argument", "msgs")
}

// TestStreamConsumerStateSurvivesRestart: a durable consumer's position and
// pending acks are replicated state, so a restart with a data dir keeps them.
func TestStreamConsumerStateSurvivesRestart(t *testing.T) {
	srv, c := startEmbedded(t, waymakertest.WithTempDataDir())
	ctx := testCtx(t, 60*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	publishN(t, s, s.Name(), 10)
	cons, err := s.CreateConsumer(ctx, waymaker.ConsumerConfig{DurableName: "d", AckWait: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	got, err := cons.Fetch(ctx, 5, time.Second)
	if err != nil || len(got) != 5 {
		t.Fatalf("fetch = %d, %v", len(got), err)
	}
	for _, m := range got[:3] {
		if err := m.AckSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	srv.Restart()
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Delivered.Stream != 5 || info.NumAckPending != 2 || info.AckFloor.Stream != 3 || info.NumPending != 5 {
		t.Fatalf("after restart: %+v", info)
	}
	// New messages continue after the position; the two unacked come back
	// once their ack wait ends; the three acked never do.
	seen := map[uint64]uint32{}
	if !eventually(20*time.Second, func() bool {
		msgs, err := cons.Fetch(ctx, 10, 200*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			if m.StreamSeq <= 3 {
				t.Fatalf("acked message %d delivered again", m.StreamSeq)
			}
			seen[m.StreamSeq] = m.NumDelivered
			_ = m.AckSync(ctx)
		}
		return len(seen) == 7
	}) {
		t.Fatalf("after restart got %v", seen)
	}
	if seen[4] != 2 || seen[5] != 2 || seen[6] != 1 {
		t.Fatalf("delivery counts = %v", seen)
	}
}

// A push consumer at its MaxAckPending gets the next message for each ack,
// in order, also when each ack frees a single slot: here 15 of 16 stay
// held, as a pool of workers on long jobs holds them.
func TestStreamPushRefillsAfterEachAckAtMaxAckPending(t *testing.T) {
	c := start(t)
	ctx := testCtx(t, 30*time.Second)
	s := newStream(t, c, waymaker.StreamConfig{})
	const limit, total = 16, 60
	publishN(t, s, s.Name(), total)
	cons, it := pushMessages(t, ctx, s, waymaker.ConsumerConfig{DurableName: "d", MaxAckPending: limit, AckWait: time.Minute})
	var held []*waymaker.Msg
	for range limit {
		held = append(held, next(t, it, 5*time.Second))
	}
	if info, err := cons.Info(ctx); err != nil || info.NumAckPending != limit {
		t.Fatalf("info = %+v, %v; want %d pending", info, err, limit)
	}
	want := uint64(limit + 1)
	for len(held) > 0 {
		// Ack the oldest held message; the next in the stream must come.
		if err := held[0].AckSync(ctx); err != nil {
			t.Fatal(err)
		}
		held = held[1:]
		if want > total {
			continue
		}
		m := next(t, it, 5*time.Second)
		if m.StreamSeq != want || m.NumDelivered != 1 {
			t.Fatalf("after an ack got seq %d (delivery %d), want %d", m.StreamSeq, m.NumDelivered, want)
		}
		want++
		held = append(held, m)
	}
	info, err := cons.Info(ctx)
	if err != nil || info.NumAckPending != 0 || info.AckFloor.Stream != total || info.NumRedelivered != 0 {
		t.Fatalf("info = %+v, %v", info, err)
	}
}
