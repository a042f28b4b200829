// Package config binds command-line flags to environment variables: every setting can be
// given as a flag or as its variable, the flag winning, with a safe default otherwise. It also
// builds the settings every service shares (database, NATS, S3, events, logging).
package config

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
)

// Set is a flag set whose flags read their defaults from environment variables. It remembers
// every variable so that usage lists them, and collects parse problems of variables so that
// all are reported at once.
type Set struct {
	*flag.FlagSet
	errs []string
}

// New returns a set for the named command.
func New(name string) *Set {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	return &Set{FlagSet: fs}
}

func (s *Set) env(name, envVar, usage string) (string, bool, string) {
	if envVar == "" {
		return "", false, usage
	}
	v, ok := os.LookupEnv(envVar)
	return v, ok, fmt.Sprintf("%s (env %s)", usage, envVar)
}

// String defines a string flag.
func (s *Set) String(p *string, name, envVar, def, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	if !ok {
		v = def
	}
	s.StringVar(p, name, v, u)
}

// Secret defines a string flag whose value is never printed in usage or logs.
func (s *Set) Secret(p *string, name, envVar, usage string) {
	v, _, u := s.env(name, envVar, usage)
	*p = v
	s.Func(name, u, func(x string) error { *p = x; return nil })
}

// Int defines an int flag.
func (s *Set) Int(p *int, name, envVar string, def int, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	n := def
	if ok {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not an integer", envVar, v))
			n = def
		}
	}
	s.IntVar(p, name, n, u)
}

// Int64 defines an int64 flag.
func (s *Set) Int64(p *int64, name, envVar string, def int64, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	n := def
	if ok {
		var err error
		if n, err = strconv.ParseInt(v, 10, 64); err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not an integer", envVar, v))
			n = def
		}
	}
	s.Int64Var(p, name, n, u)
}

// Float64 defines a float flag.
func (s *Set) Float64(p *float64, name, envVar string, def float64, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	f := def
	if ok {
		var err error
		if f, err = strconv.ParseFloat(v, 64); err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a number", envVar, v))
			f = def
		}
	}
	s.Float64Var(p, name, f, u)
}

// Bool defines a bool flag.
func (s *Set) Bool(p *bool, name, envVar string, def bool, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	b := def
	if ok {
		var err error
		if b, err = strconv.ParseBool(v); err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a boolean", envVar, v))
			b = def
		}
	}
	s.BoolVar(p, name, b, u)
}

// Duration defines a duration flag.
func (s *Set) Duration(p *time.Duration, name, envVar string, def time.Duration, usage string) {
	v, ok, u := s.env(name, envVar, usage)
	d := def
	if ok {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a duration such as 500ms", envVar, v))
			d = def
		}
	}
	s.DurationVar(p, name, d, u)
}

// Parse parses args and returns every problem found in variables and flags at once.
func (s *Set) Parse(args []string) error {
	s.SetOutput(io.Discard)
	if err := s.FlagSet.Parse(args); err != nil {
		if err == flag.ErrHelp {
			s.SetOutput(os.Stderr)
			s.Usage()
			return err
		}
		s.errs = append(s.errs, err.Error())
	}
	if len(s.errs) > 0 {
		return fmt.Errorf("configuration: %s", strings.Join(s.errs, "; "))
	}
	return nil
}

// Common holds the settings every service shares.
type Common struct {
	DatabaseURL string
	NATSURL     string
	S3          blob.Config
	Events      events.Config
	LogLevel    string
	LogFormat   string
}

// AddCommon defines the shared flags.
func (s *Set) AddCommon(c *Common) {
	s.String(&c.DatabaseURL, "database-url", "DATABASE_URL",
		"postgres://postgres@127.0.0.1:5432/artauth?sslmode=disable", "Postgres connection URL")
	s.String(&c.NATSURL, "nats-url", "NATS_URL", "nats://127.0.0.1:4222", "NATS server URL")
	s.String(&c.S3.Endpoint, "s3-endpoint", "S3_ENDPOINT", "http://127.0.0.1:7070",
		"S3-compatible endpoint; empty for AWS")
	s.String(&c.S3.Region, "s3-region", "S3_REGION", "us-east-1", "S3 region")
	s.String(&c.S3.AccessKey, "s3-access-key", "S3_ACCESS_KEY_ID", "",
		"S3 access key; empty uses the AWS default credential chain")
	s.Secret(&c.S3.SecretKey, "s3-secret-key", "S3_SECRET_ACCESS_KEY", "S3 secret key")
	s.Bool(&c.S3.PathStyle, "s3-path-style", "S3_PATH_STYLE", true,
		"address buckets by path (needed by most S3-compatible servers)")
	d := events.DefaultConfig()
	c.Events = d
	s.String(&c.Events.Prefix, "subject-prefix", "ARTAUTH_SUBJECT_PREFIX", d.Prefix,
		"prefix of the classification subjects")
	s.String(&c.Events.Stream, "stream", "ARTAUTH_STREAM", d.Stream,
		"JetStream stream of classification requests")
	s.String(&c.Events.Consumer, "consumer", "ARTAUTH_CONSUMER", d.Consumer,
		"durable consumer shared by the workers")
	s.String(&c.Events.S3Stream, "s3-events-stream", "ARTAUTH_S3_EVENTS_STREAM", d.S3Stream,
		"JetStream stream capturing S3 bucket notifications")
	s.String(&c.Events.S3Subject, "s3-events-subject", "ARTAUTH_S3_EVENTS_SUBJECT", d.S3Subject,
		"subject the S3 server publishes bucket notifications on")
	s.String(&c.Events.AlertStream, "alert-stream", "ARTAUTH_ALERT_STREAM", d.AlertStream,
		"JetStream stream keeping alert messages (subjects <prefix>.alerts.<reason>)")
	s.String(&c.Events.S3Consumer, "s3-events-consumer", "ARTAUTH_S3_EVENTS_CONSUMER",
		d.S3Consumer, "durable consumer of bucket notifications")
	s.Int(&c.Events.MaxDeliver, "max-deliver", "ARTAUTH_MAX_DELIVER", d.MaxDeliver,
		"deliveries of one message before it is dead-lettered")
	s.Duration(&c.Events.AckWait, "ack-wait", "ARTAUTH_ACK_WAIT", d.AckWait,
		"time a delivery may stay unacknowledged")
	s.Func("backoff", "comma-separated redelivery delays, e.g. 2s,10s,30s "+
		"(env ARTAUTH_BACKOFF; default 2s,10s,30s,2m,5m)", func(v string) error {
		return c.parseBackoff(v)
	})
	if v, ok := os.LookupEnv("ARTAUTH_BACKOFF"); ok {
		if err := c.parseBackoff(v); err != nil {
			s.errs = append(s.errs, "ARTAUTH_BACKOFF: "+err.Error())
		}
	}
	s.String(&c.LogLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	s.String(&c.LogFormat, "log-format", "LOG_FORMAT", "json", "json or console")
}

func (c *Common) parseBackoff(v string) error {
	var out []time.Duration
	for _, p := range strings.Split(v, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(p))
		if err != nil || d <= 0 {
			return fmt.Errorf("backoff %q: want positive durations separated by commas", v)
		}
		out = append(out, d)
	}
	c.Events.BackOff = out
	return nil
}

// Logger builds the process logger: one JSON object per line on stderr by default.
func (c Common) Logger(service string) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.LogLevel)
	if err != nil || c.LogLevel == "" {
		return zerolog.Nop(), fmt.Errorf("LOG_LEVEL %q: want debug, info, warn or error",
			c.LogLevel)
	}
	var w io.Writer = os.Stderr
	switch c.LogFormat {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.RFC3339}
	default:
		return zerolog.Nop(), fmt.Errorf("LOG_FORMAT %q: want json or console", c.LogFormat)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	return zerolog.New(w).Level(level).With().Timestamp().Str("service", service).Logger(), nil
}

// ConnectNATS connects to NATS_URL as the named client, reconnecting for ever, and opens
// JetStream on the connection. The caller drains or closes the connection.
func (c Common) ConnectNATS(name string) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := nats.Connect(c.NATSURL, nats.Name(name), nats.MaxReconnects(-1))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to nats at %s: %w", c.NATSURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream at %s: %w", c.NATSURL, err)
	}
	return nc, js, nil
}
