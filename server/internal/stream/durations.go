package stream

import (
	"fmt"

	sp "git.awesomike.com/pub/waymaker-client/go/genpb/streampb"
	"git.awesomike.com/pub/waymaker-client/go/server/internal/msec"
)

// Apply refuses a duration above msec.MaxDuration (and an instant above
// msec.MaxInstant) whatever the API let through, so a replayed log or a
// hand-made command cannot install a deadline that wraps into the past.

// streamDurations returns "field: rule" for the first duration of c apply
// refuses, or "".
func streamDurations(c *sp.StreamConfig) string {
	for _, f := range []struct {
		name string
		ms   int64
	}{
		{"config.max_age_ms", c.GetMaxAgeMs()},
		{"config.duplicate_window_ms", c.GetDuplicateWindowMs()},
	} {
		if rule := msec.Check(f.ms); rule != "" {
			return f.name + ": " + rule
		}
	}
	return ""
}

// consumerDurations is streamDurations for a consumer's configuration.
func consumerDurations(c *sp.ConsumerConfig) string {
	for _, f := range []struct {
		name string
		ms   int64
	}{
		{"config.ack_wait_ms", c.GetAckWaitMs()},
		{"config.inactive_threshold_ms", c.GetInactiveThresholdMs()},
	} {
		if rule := msec.Check(f.ms); rule != "" {
			return f.name + ": " + rule
		}
	}
	for i, b := range c.GetBackoffMs() {
		if rule := msec.Check(b); rule != "" {
			return fmt.Sprintf("config.backoff_ms[%d]: %s", i, rule)
		}
	}
	if at := c.GetOptStartAtMs(); at < 0 || at > msec.MaxInstant {
		return "config.opt_start_at_ms: must be from 0 to 253402300799999 (9999-12-31)"
	}
	return ""
}

// ackDurations is streamDurations for an ack's nak delays.
func ackDurations(req *sp.StreamServiceAckRequest) string {
	for i, it := range req.GetItems() {
		if rule := msec.Check(it.GetNakDelayMs()); rule != "" {
			return fmt.Sprintf("items[%d].nak_delay_ms: %s", i, rule)
		}
	}
	return ""
}
