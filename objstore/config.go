package objstore

import (
	"time"
	"unicode/utf8"

	"git.awesomike.com/pub/waymaker-client/go/genpb/objstorepb"
	"git.awesomike.com/pub/waymaker-client/go/transport"
)

// Chunk sizes: the default, and the range Config.ChunkSize accepts.
const (
	DefaultChunkSize = 128 << 10
	MinChunkSize     = 1 << 10
	MaxChunkSize     = 1 << 20
)

// Name limits (bytes), as documented in objstore.proto.
const (
	MaxStoreNameLen  = transport.MaxNameLen
	MaxObjectNameLen = 1024
)

// Config configures an object store. Zero values mean the documented
// defaults.
type Config struct {
	// Name is the store's name: 1 to 256 bytes of [A-Za-z0-9_-].
	Name string
	// Description is free-form.
	Description string
	// MaxBytes bounds the total size of the store's live objects; a Put that
	// would exceed it fails with ErrLimitExceeded and stores nothing. 0 means
	// unbounded.
	MaxBytes int64
	// TTL is how long an object lives after its last Put; 0 means forever.
	// Millisecond granularity.
	TTL time.Duration
	// ChunkSize is the size of the chunks data is sent and stored in:
	// 0 takes DefaultChunkSize (128 KiB); otherwise MinChunkSize (1 KiB) to
	// MaxChunkSize (1 MiB).
	ChunkSize int
}

// Status is a store's configuration and what it holds now.
type Status struct {
	// Config is the store's configuration, with defaults filled in.
	Config Config
	// Objects is the number of live objects.
	Objects int64
	// Bytes is the total size of live objects.
	Bytes int64
	// Revision is the store's latest revision; every Put, UpdateMeta, Delete
	// and expiry advances it.
	Revision uint64
	// Created is when the store was created.
	Created time.Time
}

func (c Config) validate() error {
	if err := validStoreName("Name", c.Name); err != nil {
		return err
	}
	if c.MaxBytes < 0 {
		return transport.Invalid("MaxBytes", "must not be negative, got %d", c.MaxBytes)
	}
	if c.TTL < 0 {
		return transport.Invalid("TTL", "must not be negative, got %v", c.TTL)
	}
	if c.TTL > 0 && c.TTL < time.Millisecond {
		return transport.Invalid("TTL", "must be 0 or at least 1ms, got %v", c.TTL)
	}
	if c.ChunkSize != 0 && (c.ChunkSize < MinChunkSize || c.ChunkSize > MaxChunkSize) {
		return transport.Invalid("ChunkSize", "must be 0 (default %d) or from %d to %d, got %d", DefaultChunkSize, MinChunkSize, MaxChunkSize, c.ChunkSize)
	}
	return nil
}

func (c Config) toPB() *objstorepb.ObjectStoreConfig {
	return &objstorepb.ObjectStoreConfig{
		Name:        c.Name,
		Description: c.Description,
		MaxBytes:    c.MaxBytes,
		TtlMs:       c.TTL.Milliseconds(),
		ChunkSize:   int32(c.ChunkSize),
	}
}

func configFromPB(p *objstorepb.ObjectStoreConfig) Config {
	return Config{
		Name:        p.GetName(),
		Description: p.GetDescription(),
		MaxBytes:    p.GetMaxBytes(),
		TTL:         time.Duration(p.GetTtlMs()) * time.Millisecond,
		ChunkSize:   int(p.GetChunkSize()),
	}
}

func statusFromPB(p *objstorepb.ObjectStoreInfo) Status {
	return Status{
		Config:   configFromPB(p.GetConfig()),
		Objects:  p.GetObjects(),
		Bytes:    p.GetBytes(),
		Revision: p.GetRevision(),
		Created:  time.UnixMilli(p.GetCreatedAtMs()),
	}
}

// validStoreName checks a store name: 1 to 256 bytes of [A-Za-z0-9_-].
func validStoreName(field, name string) error {
	return transport.CheckName(field, name)
}

// validObjectName checks an object name: 1 to 1024 bytes of UTF-8 with no NUL.
func validObjectName(field, name string) error {
	if name == "" {
		return transport.Invalid(field, "must not be empty")
	}
	if len(name) > MaxObjectNameLen {
		return transport.Invalid(field, "is %d bytes, limit %d", len(name), MaxObjectNameLen)
	}
	if !utf8.ValidString(name) {
		return transport.Invalid(field, "must be valid UTF-8")
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return transport.Invalid(field, "must not contain NUL")
		}
	}
	return nil
}
