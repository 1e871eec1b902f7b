// Package cluster is the replicated record of a cluster's members as
// clients see them: the client address each node serves on (so a
// not_leader hint can name the leader's client address) and the list of
// initial voters the cluster was bootstrapped with (so a node started
// with a different list is refused instead of silently splitting the
// cluster). Raft's own configuration holds the raft addresses.
package cluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/clusterpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the registered subsystem name; never change it.
const Name = "cluster"

// OpAnnounce records a node's client address; payload
// ClusterServiceAnnounceRequest, result *ClusterServiceAnnounceResponse.
const OpAnnounce uint16 = 1

// OpStage records the intent to make a non-voter a voter once it is
// stable; payload ClusterServiceAddVoterRequest (id and raft address),
// result *ClusterServiceAddVoterResponse.
const OpStage uint16 = 2

// OpUnstage clears that intent (the member was promoted, removed, or
// asked to stay a non-voter); payload ClusterServiceRemoveServerRequest
// (the id), result *ClusterServiceRemoveServerResponse. Clearing an id
// that is not staged changes nothing and succeeds.
const OpUnstage uint16 = 3

// Staged is one member waiting to be promoted.
type Staged struct {
	ID, RaftAddr string
	// AtMs is when it was staged, by the proposing leader's clock (Unix ms).
	AtMs int64
}

// Machine is the replicated member record.
type Machine struct {
	mu        sync.RWMutex
	addrs     map[string]string // node id -> client address
	bootstrap string            // canonical initial voter list, "" until a bootstrapped node announced
	staged    map[string]Staged // node id -> the intent to promote it
	changed   chan struct{}     // closed and replaced on every change
}

// Changed returns a channel closed at the next change of the record.
func (m *Machine) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

func (m *Machine) fireLocked() {
	close(m.changed)
	m.changed = make(chan struct{})
}

var _ fsm.Subsystem = (*Machine)(nil)

// New returns an empty record.
func New() *Machine {
	return &Machine{addrs: map[string]string{}, staged: map[string]Staged{}, changed: make(chan struct{})}
}

// IsStaged reports whether member id is staged to become a voter.
func (m *Machine) IsStaged(id string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	_, ok := m.staged[id]
	return ok
}

// Staged returns every staged member, sorted by id.
func (m *Machine) Staged() []Staged {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Staged, 0, len(m.staged))
	for _, id := range slices.Sorted(maps.Keys(m.staged)) {
		out = append(out, m.staged[id])
	}
	return out
}

// Name implements fsm.Subsystem.
func (m *Machine) Name() string { return Name }

// ClientAddr is the client address node id announced, or "".
func (m *Machine) ClientAddr(id string) string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.addrs[id]
}

// Bootstrap is the canonical initial voter list the cluster was
// bootstrapped with, or "" until a bootstrapped node announced it.
func (m *Machine) Bootstrap() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bootstrap
}

// Addrs returns a copy of every announced client address by node id.
func (m *Machine) Addrs() map[string]string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return maps.Clone(m.addrs)
}

// Apply implements fsm.Subsystem.
func (m *Machine) Apply(cmd fsm.Command) any {
	switch cmd.Op {
	case OpAnnounce:
		return m.applyAnnounce(cmd)
	case OpStage:
		var req clusterpb.ClusterServiceAddVoterRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("cluster: stage payload: %w", err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if old, ok := m.staged[req.Id]; !ok || old.RaftAddr != req.RaftAddress {
			m.staged[req.Id] = Staged{ID: req.Id, RaftAddr: req.RaftAddress, AtMs: cmd.AtMs}
			m.fireLocked()
		}
		return &clusterpb.ClusterServiceAddVoterResponse{Result: result.OK()}
	case OpUnstage:
		var req clusterpb.ClusterServiceRemoveServerRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("cluster: unstage payload: %w", err)
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		if _, ok := m.staged[req.Id]; ok {
			delete(m.staged, req.Id)
			m.fireLocked()
		}
		return &clusterpb.ClusterServiceRemoveServerResponse{Result: result.OK()}
	}
	return fmt.Errorf("cluster: unknown op %d", cmd.Op)
}

func (m *Machine) applyAnnounce(cmd fsm.Command) any {
	var req clusterpb.ClusterServiceAnnounceRequest
	if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
		return fmt.Errorf("cluster: announce payload: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if req.Bootstrap != "" {
		switch {
		case m.bootstrap == "":
			m.bootstrap = req.Bootstrap
		case m.bootstrap != req.Bootstrap:
			return &clusterpb.ClusterServiceAnnounceResponse{Result: result.Invalid("bootstrap", fmt.Sprintf("node %q was started with the initial voters %q, but this cluster was bootstrapped with %q; give every initial voter the same --bootstrap list", req.Id, req.Bootstrap, m.bootstrap))}
		}
	}
	if req.ClientAddress != "" && m.addrs[req.Id] != req.ClientAddress {
		m.addrs[req.Id] = req.ClientAddress
		m.fireLocked()
	}
	return &clusterpb.ClusterServiceAnnounceResponse{Result: result.OK()}
}

// Tick implements fsm.Subsystem: nothing expires.
func (m *Machine) Tick(int64) {}

// NextDeadline implements fsm.Subsystem.
func (m *Machine) NextDeadline() int64 { return 0 }

// Snapshot implements fsm.Subsystem: bootstrap, then sorted id/address
// pairs, each length-prefixed, then the staged members (a count, then
// sorted id, raft address and staging time). A snapshot written before
// staging existed ends after the pairs, and restores with none staged.
func (m *Machine) Snapshot() (func(io.Writer) error, error) {
	m.mu.RLock()
	var b []byte
	b = appendString(b, m.bootstrap)
	b = binary.AppendUvarint(b, uint64(len(m.addrs)))
	for _, id := range slices.Sorted(maps.Keys(m.addrs)) {
		b = appendString(appendString(b, id), m.addrs[id])
	}
	b = binary.AppendUvarint(b, uint64(len(m.staged)))
	for _, id := range slices.Sorted(maps.Keys(m.staged)) {
		st := m.staged[id]
		b = appendString(appendString(b, id), st.RaftAddr)
		b = binary.AppendVarint(b, st.AtMs)
	}
	m.mu.RUnlock()
	return func(w io.Writer) error { _, err := w.Write(b); return err }, nil
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

// maxRecord bounds a restored string and the member count.
const maxRecord = 1 << 16

// Restore implements fsm.Subsystem.
func (m *Machine) Restore(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	addrs, staged := map[string]string{}, map[string]Staged{}
	var boot string
	if len(data) > 0 {
		br := bytes.NewReader(data)
		if boot, err = readString(br); err != nil {
			return err
		}
		n, err := binary.ReadUvarint(br)
		if err != nil || n > maxRecord {
			return fmt.Errorf("cluster: snapshot member count: %d, %v", n, err)
		}
		for range n {
			id, addr, err := readPair(br)
			if err != nil {
				return err
			}
			addrs[id] = addr
		}
		if br.Len() > 0 { // absent from snapshots taken before staging existed
			n, err := binary.ReadUvarint(br)
			if err != nil || n > maxRecord {
				return fmt.Errorf("cluster: snapshot staged count: %d, %v", n, err)
			}
			for range n {
				id, addr, err := readPair(br)
				if err != nil {
					return err
				}
				at, err := binary.ReadVarint(br)
				if err != nil {
					return fmt.Errorf("cluster: snapshot staging time of %q: %v", id, err)
				}
				staged[id] = Staged{ID: id, RaftAddr: addr, AtMs: at}
			}
		}
	}
	m.mu.Lock()
	m.addrs, m.bootstrap, m.staged = addrs, boot, staged
	m.fireLocked()
	m.mu.Unlock()
	return nil
}

// readPair reads a member's id and address, written one after the other.
func readPair(r *bytes.Reader) (id, addr string, err error) {
	if id, err = readString(r); err != nil {
		return "", "", err
	}
	addr, err = readString(r)
	return id, addr, err
}

func readString(r *bytes.Reader) (string, error) {
	n, err := binary.ReadUvarint(r)
	if err != nil || n > maxRecord || n > uint64(r.Len()) {
		return "", fmt.Errorf("cluster: snapshot string length %d: %v", n, err)
	}
	b := make([]byte, n)
	_, _ = io.ReadFull(r, b)
	return string(b), nil
}
