package lock

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"

	"git.awesomike.com/pub/waymaker-client/go/genpb/lockpb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/fsm"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Name is the registered name of the lock state machine. It is in every
// log entry and snapshot: never change it.
const Name = "lock"

// Ops of the lock state machine. They are part of the log format: never
// renumber one.
const (
	// OpAcquire: payload LockServiceMultiTryAcquireRequest; result *Outcome.
	OpAcquire uint16 = 1
	// OpCancel: payload EncodeCancel; result *Outcome.
	OpCancel uint16 = 2
	// OpRenew: payload LockServiceRenewRequest; result *Outcome.
	OpRenew uint16 = 3
	// OpRelease: payload LockServiceReleaseRequest; result *Outcome.
	OpRelease uint16 = 4
)

// Machine is the replicated (quorum scope) lock table, plugged into
// the raft FSM. Its lease ids are plain decimal numbers.
type Machine struct {
	*Table
}

var _ fsm.Subsystem = (*Machine)(nil)

// NewStateMachine returns an empty quorum lock table.
func New() *Machine {
	t := NewTable("", 0)
	t.hist = newHistory()
	return &Machine{t}
}

// Name implements fsm.Subsystem.
func (s *Machine) Name() string { return Name }

// Apply implements fsm.Subsystem. A malformed payload or an unknown op is
// answered with an error and changes nothing.
func (s *Machine) Apply(cmd fsm.Command) any {
	if res, ok := s.applyLeaderOp(cmd); ok {
		return res
	}
	switch cmd.Op {
	case OpAcquire:
		var req lockpb.LockServiceMultiTryAcquireRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("lock: acquire payload: %w", err)
		}
		if len(req.GetKeys()) == 0 || req.GetRequestId() == "" {
			return fmt.Errorf("lock: acquire payload names no keys or no request id")
		}
		return s.Acquire(AcquireRequest{
			RequestID:   req.GetRequestId(),
			Keys:        req.GetKeys(),
			Mode:        NormalMode(req.GetMode()),
			MaxWaitMs:   req.GetMaxWaitMs(),
			TTLMs:       req.GetLeaseTtlMs(),
			RecoverOnly: req.GetRecoverOnly(),
			Value:       string(req.GetValue()),
		}, cmd.AtMs)
	case OpCancel:
		reqID, attempt, err := DecodeCancel(cmd.Payload)
		if err != nil {
			return err
		}
		return s.Cancel(reqID, attempt, cmd.AtMs)
	case OpRenew:
		var req lockpb.LockServiceRenewRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("lock: renew payload: %w", err)
		}
		return s.Renew(req.GetLeaseId(), req.GetRequestId(), req.GetLeaseTtlMs(), cmd.AtMs)
	case OpRelease:
		var req lockpb.LockServiceReleaseRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("lock: release payload: %w", err)
		}
		return s.Release(req.GetLeaseId(), req.GetRequestId(), cmd.AtMs)
	case OpRevoke:
		var req lockpb.LockServiceRevokeRequest
		if err := proto.Unmarshal(cmd.Payload, &req); err != nil {
			return fmt.Errorf("lock: revoke payload: %w", err)
		}
		if req.GetKey() == "" {
			return fmt.Errorf("lock: revoke payload names no key")
		}
		return &lockpb.LockServiceRevokeResponse{Result: result.OK(), Revoked: int32(s.Revoke(req.GetKey(), cmd.AtMs))}
	}
	return fmt.Errorf("lock: unknown op %d", cmd.Op)
}

// NormalMode maps UNSPECIFIED to EXCLUSIVE, as the wire contract says.
func NormalMode(m lockpb.LockMode) lockpb.LockMode {
	if m == lockpb.LockMode_LOCK_MODE_SHARED {
		return m
	}
	return lockpb.LockMode_LOCK_MODE_EXCLUSIVE
}

// EncodeCancel is the OpCancel payload: uvarint attempt, then the request id.
func EncodeCancel(reqID string, attempt uint64) []byte {
	b := binary.AppendUvarint(make([]byte, 0, binary.MaxVarintLen64+len(reqID)), attempt)
	return append(b, reqID...)
}

// DecodeCancel reverses EncodeCancel.
func DecodeCancel(p []byte) (reqID string, attempt uint64, err error) {
	attempt, n := binary.Uvarint(p)
	if n <= 0 {
		return "", 0, fmt.Errorf("lock: cancel payload: bad attempt")
	}
	return string(p[n:]), attempt, nil
}
