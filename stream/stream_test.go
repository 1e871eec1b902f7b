package stream_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"git.awesomike.com/pub/waymaker-client/go/stream"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newClient dials an address nothing listens on: every case below must be
// refused before anything is sent.
func newClient(t *testing.T) *stream.Client {
	conn, err := transport.Dial(context.Background(), []string{"127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return stream.New(conn)
}

func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var e *transport.Error
	if !errors.As(err, &e) || e.Kind != transport.KindInvalid || !strings.HasPrefix(e.Message, field+":") {
		t.Fatalf("err = %v, want Kind invalid naming %s", err, field)
	}
}

func TestClientValidation(t *testing.T) {
	c := newClient(t)
	ctx := context.Background()
	_, err := c.Create(ctx, stream.Config{})
	wantInvalid(t, err, "Name")
	_, err = c.Create(ctx, stream.Config{Name: "a.b"})
	wantInvalid(t, err, "Name")
	_, err = c.Create(ctx, stream.Config{Name: "a", Subjects: []string{"x.>.y"}})
	wantInvalid(t, err, "Subjects[0]")
	_, err = c.Create(ctx, stream.Config{Name: "a", Subjects: []string{"x..y"}})
	wantInvalid(t, err, "Subjects[0]")
	_, err = c.Create(ctx, stream.Config{Name: "a", MaxAge: -time.Second})
	wantInvalid(t, err, "MaxAge")
	_, err = c.Create(ctx, stream.Config{Name: "a", Retention: 7})
	wantInvalid(t, err, "Retention")

	s := c.Stream("a")
	_, err = s.Publish(ctx, "a.*", nil)
	wantInvalid(t, err, "subject")
	_, err = s.Publish(ctx, "a.>", nil)
	wantInvalid(t, err, "subject")
	_, err = s.Publish(ctx, "", nil)
	wantInvalid(t, err, "subject")
	_, err = s.PublishAsync(ctx, "a b", nil)
	wantInvalid(t, err, "subject")
	_, err = s.PublishBatch(ctx, []stream.Message{{Subject: "ok"}, {Subject: "bad.*"}})
	wantInvalid(t, err, "msgs[1].Subject")
	_, err = s.PublishBatch(ctx, nil)
	wantInvalid(t, err, "msgs")

	_, err = s.CreateConsumer(ctx, stream.ConsumerConfig{DeliverPolicy: stream.DeliverByStartSeq})
	wantInvalid(t, err, "OptStartSeq")
	_, err = s.CreateConsumer(ctx, stream.ConsumerConfig{DeliverPolicy: stream.DeliverByStartTime})
	wantInvalid(t, err, "OptStartTime")
	_, err = s.CreateConsumer(ctx, stream.ConsumerConfig{OptStartSeq: 3})
	wantInvalid(t, err, "OptStartSeq")
	_, err = s.CreateConsumer(ctx, stream.ConsumerConfig{DurableName: "x.y"})
	wantInvalid(t, err, "DurableName")
	_, err = s.CreateConsumer(ctx, stream.ConsumerConfig{FilterSubjects: []string{">.a"}})
	wantInvalid(t, err, "FilterSubjects[0]")
	_, err = s.UpdateConsumer(ctx, stream.ConsumerConfig{})
	wantInvalid(t, err, "DurableName")
	_, err = s.Consumer("c").Fetch(ctx, 0, time.Second)
	wantInvalid(t, err, "n")
	_, err = s.GetMsg(ctx, 0)
	wantInvalid(t, err, "seq")
	_, err = s.Purge(ctx, stream.PurgeKeep(1), stream.PurgeBelow(3))
	wantInvalid(t, err, "PurgeKeep")
	err = (&stream.Msg{}).Ack(ctx)
	wantInvalid(t, err, "Msg")
}

func TestPolicyNames(t *testing.T) {
	if stream.RetentionWorkQueue.String() != "workqueue" || stream.RetentionLimits.String() != "limits" {
		t.Fatal("retention names")
	}
}
