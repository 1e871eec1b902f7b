package stream

import (
	"fmt"

	"git.awesomike.com/pub/waymaker-client/go/genpb/commonpb"
	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/result"
)

// Apply refuses a duration above msec.MaxDuration (and an instant above
// msec.MaxInstant) whatever the API let through, so a replayed log or a
// hand-made command cannot install a deadline that wraps into the past.

// streamDurations is the invalid_argument Result naming the first duration
// of c apply refuses, or nil.
func streamDurations(c *sp.StreamConfig) *commonpb.Result {
	for _, f := range []struct {
		name string
		ms   int64
	}{
		{"config.max_age_ms", c.GetMaxAgeMs()},
		{"config.duplicate_window_ms", c.GetDuplicateWindowMs()},
	} {
		if rule := msec.Check(f.ms); rule != "" {
			return result.Invalid(f.name, rule)
		}
	}
	return nil
}

// consumerDurations is streamDurations for a consumer's configuration.
func consumerDurations(c *sp.ConsumerConfig) *commonpb.Result {
	for _, f := range []struct {
		name string
		ms   int64
	}{
		{"config.ack_wait_ms", c.GetAckWaitMs()},
		{"config.inactive_threshold_ms", c.GetInactiveThresholdMs()},
	} {
		if rule := msec.Check(f.ms); rule != "" {
			return result.Invalid(f.name, rule)
		}
	}
	for i, b := range c.GetBackoffMs() {
		if rule := msec.Check(b); rule != "" {
			return result.Invalid(fmt.Sprintf("config.backoff_ms[%d]", i), rule)
		}
	}
	if at := c.GetOptStartAtMs(); at < 0 || at > msec.MaxInstant {
		return result.Invalid("config.opt_start_at_ms", "must be from 0 to 253402300799999 (9999-12-31)")
	}
	return nil
}

// ackDurations is streamDurations for an ack's nak delays.
func ackDurations(req *sp.StreamServiceAckRequest) *commonpb.Result {
	for i, it := range req.GetItems() {
		if rule := msec.Check(it.GetNakDelayMs()); rule != "" {
			return result.Invalid(fmt.Sprintf("items[%d].nak_delay_ms", i), rule)
		}
	}
	return nil
}
