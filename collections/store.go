package collections

import (
	"context"
	"errors"
	"iter"
	"time"

	pb "git.awesomike.com/pub/waymaker-client/go/genpb/collectionspb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Kind is the kind of a store.
type Kind int

// Store kinds. KindAny matches every kind in listings.
const (
	KindAny Kind = iota
	KindHash
	KindSet
	KindQueue
)

func (k Kind) String() string {
	switch k {
	case KindHash:
		return "hash"
	case KindSet:
		return "set"
	case KindQueue:
		return "queue"
	}
	return "any"
}

func (k Kind) pb() pb.CollectionsStoreKind { return pb.CollectionsStoreKind(k) }

// HashStoreConfig configures a hash store: many keys, each one hash of
// field -> value. Zero fields mean the server's defaults.
type HashStoreConfig struct {
	// Name: 1 to 256 bytes of A-Z a-z 0-9 _ -. Store names share one
	// namespace across hash stores, set stores and queues.
	Name string
	// Description is free-form.
	Description string
	// MaxValueSize bounds one field value in bytes; 0 takes 1 MiB.
	MaxValueSize int64
	// MaxBytes bounds the store's total size; 0 means unbounded. A write past
	// it fails with ErrLimitExceeded.
	MaxBytes int64
}

// SetStoreConfig configures a set store: many keys, each one set of members.
type SetStoreConfig struct {
	// Name, as for HashStoreConfig.
	Name string
	// Description is free-form.
	Description string
	// MaxMemberSize bounds one member in bytes; 0 takes 64 KiB.
	MaxMemberSize int64
	// MaxBytes bounds the store's total size; 0 means unbounded.
	MaxBytes int64
}

// QueueConfig configures a reliable queue (SQS semantics: at-least-once
// delivery, visibility timeout, dead-lettering).
type QueueConfig struct {
	// Name, as for HashStoreConfig.
	Name string
	// Description is free-form.
	Description string
	// VisibilityTimeout is how long a popped message stays hidden before it
	// returns to the queue unless acked; 0 takes 30s. Pop can override it
	// per message and ExtendVisibility can change it.
	VisibilityTimeout time.Duration
	// MaxReceiveCount is how many pops a message gets: when a message that
	// was popped this many times would become visible again (visibility
	// timeout or Nack) it moves to DeadLetterQueue, or is dropped when
	// there is none. 0 means unbounded.
	MaxReceiveCount int
	// DeadLetterQueue names an existing queue that receives dead letters.
	DeadLetterQueue string
	// Delay is the default delay of a pushed message before it can be
	// popped; 0: none.
	Delay time.Duration
	// MaxMessageSize bounds a payload in bytes; 0 takes 256 KiB.
	MaxMessageSize int64
	// Retention drops a message this long after it was pushed, whatever
	// its state; 0 keeps messages until acked.
	Retention time.Duration
	// DedupeWindow is how long a pushed message id is remembered: a push
	// with the same id within it stores nothing. 0 takes 5 minutes.
	DedupeWindow time.Duration
	// MaxMessages bounds the messages held (ready, in flight and delayed);
	// a push past it fails with ErrLimitExceeded. 0 means unbounded.
	MaxMessages int64
}

// StoreInfo is a store's configuration (with the server's defaults filled
// in) and status.
type StoreInfo struct {
	Name        string
	Kind        Kind
	Description string
	// Keys counts the keys of a hash or set store, or the messages of a queue.
	Keys int64
	// Bytes is the stored size: keys, fields, values, members, payloads.
	Bytes     int64
	CreatedAt time.Time
	// Exactly one of these is set, by Kind.
	Hash  *HashStoreConfig
	Set   *SetStoreConfig
	Queue *QueueConfig
}

func infoFrom(in *pb.CollectionsStoreInfo) StoreInfo {
	cfg := in.GetConfig()
	info := StoreInfo{
		Name: cfg.GetName(), Kind: Kind(in.GetKind()), Description: cfg.GetDescription(),
		Keys: in.GetKeys(), Bytes: in.GetBytes(), CreatedAt: atMs(in.GetCreatedAtMs()),
	}
	switch k := cfg.GetKind().(type) {
	case *pb.CollectionsStoreConfig_Hash:
		info.Hash = &HashStoreConfig{Name: info.Name, Description: info.Description, MaxValueSize: k.Hash.GetMaxValueSize(), MaxBytes: k.Hash.GetMaxBytes()}
	case *pb.CollectionsStoreConfig_Set:
		info.Set = &SetStoreConfig{Name: info.Name, Description: info.Description, MaxMemberSize: k.Set.GetMaxMemberSize(), MaxBytes: k.Set.GetMaxBytes()}
	case *pb.CollectionsStoreConfig_Queue:
		q := k.Queue
		info.Queue = &QueueConfig{
			Name: info.Name, Description: info.Description,
			VisibilityTimeout: fromMs(q.GetVisibilityTimeoutMs()), MaxReceiveCount: int(q.GetMaxReceiveCount()),
			DeadLetterQueue: q.GetDeadLetterQueue(), Delay: fromMs(q.GetDelayMs()), MaxMessageSize: q.GetMaxMessageSize(),
			Retention: fromMs(q.GetRetentionMs()), DedupeWindow: fromMs(q.GetDedupeWindowMs()), MaxMessages: q.GetMaxMessages(),
		}
	}
	return info
}

func (cfg HashStoreConfig) proto() (*pb.CollectionsStoreConfig, error) {
	if err := checkName("cfg.Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.MaxValueSize < 0 {
		return nil, transport.Invalid("cfg.MaxValueSize", "must not be negative")
	}
	if cfg.MaxBytes < 0 {
		return nil, transport.Invalid("cfg.MaxBytes", "must not be negative")
	}
	return &pb.CollectionsStoreConfig{Name: cfg.Name, Description: cfg.Description,
		Kind: &pb.CollectionsStoreConfig_Hash{Hash: &pb.HashStoreConfig{MaxValueSize: cfg.MaxValueSize, MaxBytes: cfg.MaxBytes}}}, nil
}

func (cfg SetStoreConfig) proto() (*pb.CollectionsStoreConfig, error) {
	if err := checkName("cfg.Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.MaxMemberSize < 0 {
		return nil, transport.Invalid("cfg.MaxMemberSize", "must not be negative")
	}
	if cfg.MaxBytes < 0 {
		return nil, transport.Invalid("cfg.MaxBytes", "must not be negative")
	}
	return &pb.CollectionsStoreConfig{Name: cfg.Name, Description: cfg.Description,
		Kind: &pb.CollectionsStoreConfig_Set{Set: &pb.SetStoreConfig{MaxMemberSize: cfg.MaxMemberSize, MaxBytes: cfg.MaxBytes}}}, nil
}

func (cfg QueueConfig) proto() (*pb.CollectionsStoreConfig, error) {
	if err := checkName("cfg.Name", cfg.Name); err != nil {
		return nil, err
	}
	if cfg.DeadLetterQueue != "" {
		if err := checkName("cfg.DeadLetterQueue", cfg.DeadLetterQueue); err != nil {
			return nil, err
		}
		if cfg.DeadLetterQueue == cfg.Name {
			return nil, transport.Invalid("cfg.DeadLetterQueue", "must name another queue")
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"cfg.VisibilityTimeout", cfg.VisibilityTimeout}, {"cfg.Delay", cfg.Delay}, {"cfg.Retention", cfg.Retention}, {"cfg.DedupeWindow", cfg.DedupeWindow}} {
		if err := checkDuration(d.field, d.v); err != nil {
			return nil, err
		}
	}
	if cfg.MaxReceiveCount < 0 || cfg.MaxReceiveCount > 1<<31-1 {
		return nil, transport.Invalid("cfg.MaxReceiveCount", "must be in [0, 2^31)")
	}
	if cfg.MaxMessageSize < 0 {
		return nil, transport.Invalid("cfg.MaxMessageSize", "must not be negative")
	}
	if cfg.MaxMessages < 0 {
		return nil, transport.Invalid("cfg.MaxMessages", "must not be negative")
	}
	return &pb.CollectionsStoreConfig{Name: cfg.Name, Description: cfg.Description,
		Kind: &pb.CollectionsStoreConfig_Queue{Queue: &pb.QueueConfig{
			VisibilityTimeoutMs: ms(cfg.VisibilityTimeout), MaxReceiveCount: int32(cfg.MaxReceiveCount),
			DeadLetterQueue: cfg.DeadLetterQueue, DelayMs: ms(cfg.Delay), MaxMessageSize: cfg.MaxMessageSize,
			RetentionMs: ms(cfg.Retention), DedupeWindowMs: ms(cfg.DedupeWindow), MaxMessages: cfg.MaxMessages,
		}}}, nil
}

// create makes a store; an identical configuration on an existing store
// succeeds, a different one answers ErrExists.
func (c *Client) create(ctx context.Context, cfg *pb.CollectionsStoreConfig) (StoreInfo, error) {
	req := &pb.CollectionsServiceCreateStoreRequest{RequestId: transport.NewRequestID(), Config: cfg}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceCreateStoreResponse, error) {
		return c.rpc.CreateStore(ctx, req)
	})
	if err != nil {
		return StoreInfo{}, err
	}
	return infoFrom(resp.GetInfo()), nil
}

// getOrCreate opens the store when it exists with the kind (whatever its
// configuration), and creates it otherwise.
func (c *Client) getOrCreate(ctx context.Context, cfg *pb.CollectionsStoreConfig, kind Kind) (StoreInfo, error) {
	for {
		info, err := c.info(ctx, cfg.GetName(), kind)
		if !errors.Is(err, transport.ErrNotFound) {
			return info, err
		}
		info, err = c.create(ctx, cfg)
		if !errors.Is(err, transport.ErrExists) {
			return info, err
		}
		// Created concurrently with another configuration: open that one.
	}
}

func (c *Client) info(ctx context.Context, name string, kind Kind) (StoreInfo, error) {
	req := &pb.CollectionsServiceGetStoreRequest{Store: name, Kind: kind.pb()}
	resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceGetStoreResponse, error) {
		return c.rpc.GetStore(ctx, req)
	})
	if err != nil {
		return StoreInfo{}, err
	}
	return infoFrom(resp.GetInfo()), nil
}

// StoreInfo answers the configuration and status of the store name, of any
// kind. A missing store is ErrNotFound.
func (c *Client) StoreInfo(ctx context.Context, name string) (StoreInfo, error) {
	if err := checkName("name", name); err != nil {
		return StoreInfo{}, err
	}
	return c.info(ctx, name, KindAny)
}

// DeleteStore removes the store name, of any kind, with everything in it.
// A queue that is another queue's dead-letter queue cannot be deleted
// (ErrConflict) until that queue is.
func (c *Client) DeleteStore(ctx context.Context, name string) error {
	return c.deleteStore(ctx, name, KindAny)
}

func (c *Client) deleteStore(ctx context.Context, name string, kind Kind) error {
	if err := checkName("name", name); err != nil {
		return err
	}
	req := &pb.CollectionsServiceDeleteStoreRequest{RequestId: transport.NewRequestID(), Store: name, Kind: kind.pb()}
	_, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceDeleteStoreResponse, error) {
		return c.rpc.DeleteStore(ctx, req)
	})
	return err
}

// List ranges over the stores of a kind (KindAny: all), in name order,
// fetching a page at a time; it stops at the first error, which it yields
// once, last (see transport.Pages, the listing shape of every client).
func (c *Client) List(ctx context.Context, kind Kind) iter.Seq2[StoreInfo, error] {
	return transport.Pages(ctx, func(ctx context.Context, token string) ([]StoreInfo, string, error) {
		req := &pb.CollectionsServiceListStoresRequest{Kind: kind.pb(), PageToken: token}
		resp, err := transport.Call(ctx, c.conn, transport.Idempotent, func(ctx context.Context) (*pb.CollectionsServiceListStoresResponse, error) {
			return c.rpc.ListStores(ctx, req)
		})
		if err != nil {
			return nil, "", err
		}
		return transport.Map(resp.GetStores(), infoFrom), resp.GetNextPageToken(), nil
	})
}

// CreateHashStore makes a hash store. Creating one that exists with the same
// configuration succeeds; with another configuration (or as another kind)
// it fails with ErrExists.
func (c *Client) CreateHashStore(ctx context.Context, cfg HashStoreConfig) (*HashStore, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.create(ctx, p); err != nil {
		return nil, err
	}
	return c.hashStore(cfg.Name), nil
}

// GetOrCreateHashStore opens the hash store cfg.Name, creating it with cfg
// when it does not exist. An existing store keeps its configuration.
func (c *Client) GetOrCreateHashStore(ctx context.Context, cfg HashStoreConfig) (*HashStore, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.getOrCreate(ctx, p, KindHash); err != nil {
		return nil, err
	}
	return c.hashStore(cfg.Name), nil
}

// HashStore opens an existing hash store: ErrNotFound when there is none,
// ErrConflict when name is another kind of store.
func (c *Client) HashStore(ctx context.Context, name string) (*HashStore, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	if _, err := c.info(ctx, name, KindHash); err != nil {
		return nil, err
	}
	return c.hashStore(name), nil
}

// DeleteHashStore removes a hash store and every key in it.
func (c *Client) DeleteHashStore(ctx context.Context, name string) error {
	return c.deleteStore(ctx, name, KindHash)
}

// CreateSetStore makes a set store, as CreateHashStore does.
func (c *Client) CreateSetStore(ctx context.Context, cfg SetStoreConfig) (*SetStore, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.create(ctx, p); err != nil {
		return nil, err
	}
	return c.setStore(cfg.Name), nil
}

// GetOrCreateSetStore opens the set store cfg.Name, creating it when it
// does not exist.
func (c *Client) GetOrCreateSetStore(ctx context.Context, cfg SetStoreConfig) (*SetStore, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.getOrCreate(ctx, p, KindSet); err != nil {
		return nil, err
	}
	return c.setStore(cfg.Name), nil
}

// SetStore opens an existing set store.
func (c *Client) SetStore(ctx context.Context, name string) (*SetStore, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	if _, err := c.info(ctx, name, KindSet); err != nil {
		return nil, err
	}
	return c.setStore(name), nil
}

// DeleteSetStore removes a set store and every key in it.
func (c *Client) DeleteSetStore(ctx context.Context, name string) error {
	return c.deleteStore(ctx, name, KindSet)
}

// CreateQueue makes a queue, as CreateHashStore does. A DeadLetterQueue
// must exist first.
func (c *Client) CreateQueue(ctx context.Context, cfg QueueConfig) (*Queue, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.create(ctx, p); err != nil {
		return nil, err
	}
	return c.queue(cfg.Name), nil
}

// GetOrCreateQueue opens the queue cfg.Name, creating it when it does not
// exist.
func (c *Client) GetOrCreateQueue(ctx context.Context, cfg QueueConfig) (*Queue, error) {
	p, err := cfg.proto()
	if err != nil {
		return nil, err
	}
	if _, err := c.getOrCreate(ctx, p, KindQueue); err != nil {
		return nil, err
	}
	return c.queue(cfg.Name), nil
}

// Queue opens an existing queue.
func (c *Client) Queue(ctx context.Context, name string) (*Queue, error) {
	if err := checkName("name", name); err != nil {
		return nil, err
	}
	if _, err := c.info(ctx, name, KindQueue); err != nil {
		return nil, err
	}
	return c.queue(name), nil
}

// DeleteQueue removes a queue and its messages.
func (c *Client) DeleteQueue(ctx context.Context, name string) error {
	return c.deleteStore(ctx, name, KindQueue)
}
