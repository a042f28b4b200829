// Package events defines the JetStream streams, consumers and message schemas that connect
// ingest and the classifier workers, and creates them idempotently at start-up.
package events

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Config names the streams and consumers and sets their delivery policy. The zero value is
// not usable; start from DefaultConfig.
type Config struct {
	// Prefix starts every subject this system owns. Default "artauth".
	Prefix string
	// Stream is the work-queue stream of classification requests. Default "ARTAUTH_CLASSIFY".
	Stream string
	// Consumer is the durable pull consumer shared by all classifier workers.
	// Default "classifier".
	Consumer string
	// S3Stream captures S3 bucket notifications published on S3Subject.
	// Default "ARTAUTH_S3_EVENTS".
	S3Stream string
	// S3Subject is where the S3 server publishes bucket notifications.
	// Default "artauth.s3.events".
	S3Subject string
	// S3Consumer is the durable consumer of bucket notifications in ingest.
	// Default "ingest-s3".
	S3Consumer string
	// AlertStream keeps alert messages (subjects <Prefix>.alerts.<reason>) for whoever is
	// alerted: pagers, review queues. Default "ARTAUTH_ALERTS".
	AlertStream string
	// AlertMaxAge is how long alert messages are kept. Default 30 days.
	AlertMaxAge time.Duration
	// MaxDeliver bounds deliveries of one message; the last failing delivery is dead-lettered.
	// Default 6.
	MaxDeliver int
	// AckWait is how long a delivery may stay unacknowledged before it is redelivered; workers
	// report progress within it during long batches. Default 60s.
	AckWait time.Duration
	// BackOff is the delay before redelivery after the n-th failed delivery (the last entry
	// repeats). Default 2s, 10s, 30s, 2m, 5m.
	BackOff []time.Duration
	// DuplicateWindow is how long JetStream remembers message IDs to drop re-publishes.
	// Default 1h.
	DuplicateWindow time.Duration
	// MaxAge drops requests never consumed after this long. Default 7 days.
	MaxAge time.Duration
	// Replicas of each stream. Default 1.
	Replicas int
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{
		Prefix:      "artauth",
		Stream:      "ARTAUTH_CLASSIFY",
		Consumer:    "classifier",
		S3Stream:    "ARTAUTH_S3_EVENTS",
		S3Subject:   "artauth.s3.events",
		S3Consumer:  "ingest-s3",
		AlertStream: "ARTAUTH_ALERTS",
		AlertMaxAge: 30 * 24 * time.Hour,
		MaxDeliver:  6,
		AckWait:     60 * time.Second,
		BackOff: []time.Duration{2 * time.Second, 10 * time.Second, 30 * time.Second,
			2 * time.Minute, 5 * time.Minute},
		DuplicateWindow: time.Hour,
		MaxAge:          7 * 24 * time.Hour,
		Replicas:        1,
	}
}

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []string
	for name, v := range map[string]string{"stream": c.Stream, "consumer": c.Consumer,
		"s3 stream": c.S3Stream, "s3 consumer": c.S3Consumer, "alert stream": c.AlertStream} {
		if !tokenRE.MatchString(v) {
			errs = append(errs, fmt.Sprintf("%s name %q: want letters, digits, _ or -", name, v))
		}
	}
	for _, tok := range strings.Split(c.Prefix, ".") {
		if !tokenRE.MatchString(tok) {
			errs = append(errs, fmt.Sprintf("subject prefix %q: bad token %q", c.Prefix, tok))
			break
		}
	}
	if c.S3Subject == "" || strings.HasPrefix(c.S3Subject, c.ClassifySubject("")) {
		errs = append(errs, fmt.Sprintf("s3 subject %q: empty or inside the classify subjects",
			c.S3Subject))
	}
	if c.MaxDeliver < 1 {
		errs = append(errs, fmt.Sprintf("max deliver %d: want at least 1", c.MaxDeliver))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Sprintf("ack wait %s: want at least 1s", c.AckWait))
	}
	if len(errs) > 0 {
		return fmt.Errorf("events config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ClassifySubject is the subject of classification requests for one artist.
func (c Config) ClassifySubject(artist string) string {
	return c.Prefix + ".classify." + artist
}

// AlertSubject is the subject of alerts for one reason.
func (c Config) AlertSubject(reason string) string {
	return c.Prefix + ".alerts." + reason
}

// Delay returns the back-off before the next delivery after delivery number n (1-based).
func (c Config) Delay(n uint64) time.Duration {
	if len(c.BackOff) == 0 {
		return time.Second
	}
	i := int(n) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(c.BackOff) {
		i = len(c.BackOff) - 1
	}
	return c.BackOff[i]
}
