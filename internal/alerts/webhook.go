package alerts

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/store"
)

// Header names of a webhook delivery.
const (
	// HeaderSignature is "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">".
	HeaderSignature = "X-Artauth-Signature"
	// HeaderAlertID lets receivers drop repeated deliveries of one alert.
	HeaderAlertID = "X-Artauth-Alert-Id"
)

// Sign returns the signature header value of body at time t.
func Sign(secret []byte, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	return "t=" + ts + ",v1=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks a signature header against body, refusing signatures older than maxAge; it is
// what a receiver runs, and what the tests use.
func Verify(secret []byte, header string, body []byte, now time.Time,
	maxAge time.Duration) error {
	var ts, sig string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sig = v
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("signature header %q: want t=<unix>,v1=<hex>", header)
	}
	if age := now.Sub(time.Unix(sec, 0)); age > maxAge || age < -maxAge {
		return fmt.Errorf("signature timestamp %d is %s from now, limit %s", sec, age, maxAge)
	}
	want := Sign(secret, time.Unix(sec, 0), body)
	if !hmac.Equal([]byte(want), []byte("t="+ts+",v1="+sig)) {
		return errors.New("signature does not match the body")
	}
	return nil
}

// WebhookConfig says where and how alerts are delivered.
type WebhookConfig struct {
	// URL receives a POST per alert. Empty disables delivery.
	URL string
	// Secret signs each delivery (HMAC-SHA256). Required with URL.
	Secret string
	// Timeout of one delivery. Default 10s.
	Timeout time.Duration
	// MaxAttempts before giving up. Default 8.
	MaxAttempts int
	// BaseDelay is the back-off after the first failure; it doubles with each. Default 2s.
	BaseDelay time.Duration
	// Poll is how often due deliveries are looked for. Default 1s.
	Poll time.Duration
}

func (c *WebhookConfig) setDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 8
	}
	if c.BaseDelay == 0 {
		c.BaseDelay = 2 * time.Second
	}
	if c.Poll == 0 {
		c.Poll = time.Second
	}
}

// Dispatcher delivers queued webhooks. Several may run against one database: each claims
// deliveries with SKIP LOCKED and a lease.
type Dispatcher struct {
	cfg    WebhookConfig
	st     *store.Store
	client *http.Client
	log    zerolog.Logger
}

// NewDispatcher checks cfg and returns a dispatcher.
func NewDispatcher(cfg WebhookConfig, st *store.Store, log zerolog.Logger) (*Dispatcher, error) {
	cfg.setDefaults()
	if cfg.URL != "" && cfg.Secret == "" {
		return nil, errors.New("webhook: WEBHOOK_SECRET is required with WEBHOOK_URL")
	}
	return &Dispatcher{cfg: cfg, st: st, client: &http.Client{Timeout: cfg.Timeout},
		log: log}, nil
}

// Run delivers until ctx ends. Without a URL it returns at once.
func (d *Dispatcher) Run(ctx context.Context) error {
	if d.cfg.URL == "" {
		return nil
	}
	t := time.NewTicker(d.cfg.Poll)
	defer t.Stop()
	for {
		for {
			n, err := d.deliverDue(ctx)
			if err != nil && ctx.Err() == nil {
				d.log.Warn().Err(err).Msg("webhook pass failed")
			}
			if n == 0 || err != nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type due struct {
	alert    store.Alert
	attempts int
}

// deliverDue claims due deliveries (leasing them for twice the timeout) and sends each.
func (d *Dispatcher) deliverDue(ctx context.Context) (int, error) {
	var batch []due
	lease := 2 * d.cfg.Timeout
	err := pgx.BeginFunc(ctx, d.st.Pool, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT a.id, a.artwork_id, a.submission_id, a.reason,
				a.details, a.created_at, w.attempts
			FROM webhook_deliveries w JOIN alerts a ON a.id = w.alert_id
			WHERE w.delivered_at IS NULL AND w.gave_up_at IS NULL AND w.next_attempt_at <= now()
			ORDER BY w.next_attempt_at LIMIT 16 FOR UPDATE OF w SKIP LOCKED`)
		if err != nil {
			return err
		}
		batch, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (due, error) {
			var x due
			a := &x.alert
			err := r.Scan(&a.ID, &a.ArtworkID, &a.SubmissionID, &a.Reason, &a.Details,
				&a.CreatedAt, &x.attempts)
			return x, err
		})
		if err != nil {
			return err
		}
		ids := make([]uuid.UUID, len(batch))
		for i, x := range batch {
			ids[i] = x.alert.ID
		}
		_, err = tx.Exec(ctx, `UPDATE webhook_deliveries SET next_attempt_at = now() + $2
			WHERE alert_id = ANY($1)`, ids, lease)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim webhook deliveries: %w", err)
	}
	for _, x := range batch {
		d.deliver(ctx, x)
	}
	return len(batch), nil
}

func (d *Dispatcher) deliver(ctx context.Context, x due) {
	body, _ := json.Marshal(payload(x.alert))
	status, err := d.post(ctx, x.alert.ID, body)
	attempts := x.attempts + 1
	log := d.log.With().Str("alert_id", x.alert.ID.String()).Str("reason", x.alert.Reason).
		Int("attempt", attempts).Int("status", status).Logger()
	// The outcome is written on a context of its own: a delivery that happened is recorded.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var q string
	var args []any
	switch {
	case err == nil:
		q = `UPDATE webhook_deliveries SET attempts = $2, delivered_at = now(),
			last_status = $3, last_error = NULL WHERE alert_id = $1`
		args = []any{x.alert.ID, attempts, status}
		log.Info().Str("outcome", "delivered").Msg("webhook delivered")
	case attempts >= d.cfg.MaxAttempts:
		q = `UPDATE webhook_deliveries SET attempts = $2, gave_up_at = now(), last_status = $3,
			last_error = $4 WHERE alert_id = $1`
		args = []any{x.alert.ID, attempts, status, err.Error()}
		log.Error().Err(err).Str("outcome", "gave_up").Msg("webhook delivery abandoned")
	default:
		delay := d.cfg.BaseDelay << min(attempts-1, 16)
		q = `UPDATE webhook_deliveries SET attempts = $2, next_attempt_at = now() + $5,
			last_status = $3, last_error = $4 WHERE alert_id = $1`
		args = []any{x.alert.ID, attempts, status, err.Error(), delay}
		log.Warn().Err(err).Dur("retry_in", delay).Str("outcome", "retry").
			Msg("webhook delivery failed")
	}
	if _, err := d.st.Pool.Exec(wctx, q, args...); err != nil {
		log.Error().Err(err).Msg("could not record webhook outcome; the lease will retry it")
	}
}

func (d *Dispatcher) post(ctx context.Context, id uuid.UUID, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("webhook request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderAlertID, id.String())
	req.Header.Set(HeaderSignature, Sign([]byte(d.cfg.Secret), time.Now(), body))
	resp, err := d.client.Do(req)
	if err != nil {
		return 0, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("webhook answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}
