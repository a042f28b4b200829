// Package testenv gives tests the real services they run against: a fresh Postgres database,
// uniquely named JetStream streams on the NATS server, a versitygw S3 server of their own,
// ONNX Runtime, exported models and the shared art images.
//
// A missing service skips the test on a developer machine and fails it under CI (CI=true), so
// that CI can never pass by skipping. `make test` installs and starts everything first.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/blob"
	"github.com/artauth/artauth/internal/events"
	"github.com/artauth/artauth/internal/inference"
	"github.com/artauth/artauth/internal/store"
)

// Missing skips the test, or fails it under CI.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("%s (CI=%s: a missing service fails the test; run `make test`)", msg,
			os.Getenv("CI"))
	}
	t.Skipf("%s; run `make test` to set everything up", msg)
}

// Env reads an environment variable with a default.
func Env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// RandomName returns prefix followed by 8 random hex digits.
func RandomName(prefix string) string {
	b := make([]byte, 4)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// Logger writes to the test log.
func Logger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).With().Timestamp().Logger()
}

// Postgres creates an empty database migrated to the latest schema, dropped when the test
// ends, and returns its store and URL. DATABASE_URL (default the local trust-auth server)
// names the server and a database to connect to for CREATE DATABASE.
func Postgres(t testing.TB) (*store.Store, string) {
	t.Helper()
	ctx := context.Background()
	admin := Env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable")
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		Missing(t, "postgres at DATABASE_URL: %v", err)
	}
	name := RandomName("artauth_test_")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		conn.Close(ctx)
		t.Fatalf("create database %s: %v", name, err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse DATABASE_URL: %v", err)
	}
	u.Path = "/" + name
	dbURL := u.String()
	st, err := store.Open(ctx, dbURL, 10)
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() {
		st.Close()
		conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		conn.Close(ctx)
	})
	if _, err := st.Migrate(ctx, -1); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return st, dbURL
}

// NATS connects to NATS_URL (default nats://127.0.0.1:4222) and returns an events config
// whose streams, consumers and subjects are unique to this test, set up, and deleted when the
// test ends. The back-off is shortened so that redelivery tests finish quickly.
func NATS(t testing.TB) (*nats.Conn, jetstream.JetStream, events.Config, string) {
	t.Helper()
	natsURL := Env("NATS_URL", nats.DefaultURL)
	nc, err := nats.Connect(natsURL, nats.Timeout(3*time.Second))
	if err != nil {
		Missing(t, "nats at %s: %v", natsURL, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	id := RandomName("t")
	cfg := events.DefaultConfig()
	cfg.Prefix = "artauth_" + id
	cfg.Stream = "CLASSIFY_" + id
	cfg.S3Stream = "S3_" + id
	cfg.S3Subject = "artauth_" + id + "_s3.events"
	cfg.AlertStream = "ALERTS_" + id
	cfg.BackOff = []time.Duration{200 * time.Millisecond, 500 * time.Millisecond}
	cfg.MaxDeliver = 3
	cfg.AckWait = 5 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.AccountInfo(ctx); err != nil {
		Missing(t, "jetstream at %s: %v", natsURL, err)
	}
	if err := events.Setup(ctx, js, cfg); err != nil {
		t.Fatalf("set up streams: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		js.DeleteStream(ctx, cfg.Stream)
		js.DeleteStream(ctx, cfg.S3Stream)
		js.DeleteStream(ctx, cfg.AlertStream)
		nc.Close()
	})
	return nc, js, cfg, natsURL
}

// S3Server is a versitygw process serving a posix directory.
type S3Server struct {
	Endpoint  string
	AccessKey string
	SecretKey string
	Dir       string
}

// BlobConfig is the client configuration for this server.
func (s S3Server) BlobConfig() blob.Config {
	return blob.Config{Endpoint: s.Endpoint, AccessKey: s.AccessKey, SecretKey: s.SecretKey,
		PathStyle: true}
}

// S3 starts versitygw (VERSITYGW_BIN) on a free port with the posix backend in a temporary
// directory. When eventsURL is set it publishes every bucket notification to eventsSubject on
// that NATS server. The process is stopped when the test ends.
func S3(t testing.TB, eventsURL, eventsSubject string) S3Server {
	t.Helper()
	bin := os.Getenv("VERSITYGW_BIN")
	if bin == "" {
		if p, err := exec.LookPath("versitygw"); err == nil {
			bin = p
		}
	}
	if bin == "" {
		Missing(t, "versitygw: set VERSITYGW_BIN")
	}
	dir := t.TempDir()
	port := FreePort(t)
	srv := S3Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "testaccess", SecretKey: "testsecret-" + RandomName(""), Dir: dir}
	args := []string{"--access", srv.AccessKey, "--secret", srv.SecretKey,
		"--port", fmt.Sprintf("127.0.0.1:%d", port)}
	if eventsURL != "" {
		args = append(args, "--event-nats-url", eventsURL, "--event-nats-topic", eventsSubject)
	}
	args = append(args, "posix", dir)
	cmd := exec.Command(bin, args...)
	logf, err := os.Create(filepath.Join(t.TempDir(), "versitygw.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	WaitPort(t, fmt.Sprintf("127.0.0.1:%d", port), 15*time.Second, logf.Name())
	return srv
}

// FreePort returns a TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until addr accepts connections; on timeout it fails with the log's tail.
func WaitPort(t testing.TB, addr string, timeout time.Duration, logPath string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	tail, _ := os.ReadFile(logPath)
	t.Fatalf("nothing listens on %s after %s; log:\n%s", addr, timeout, tail)
}

// ORT initialises ONNX Runtime from ORT_LIB and returns the library path.
func ORT(t testing.TB) string {
	t.Helper()
	lib := os.Getenv("ORT_LIB")
	if lib == "" {
		Missing(t, "ONNX Runtime: set ORT_LIB to libonnxruntime.so")
	}
	if err := inference.Init(lib); err != nil {
		t.Fatalf("init onnx runtime: %v", err)
	}
	return lib
}

// Models returns the directory of exported test models for a set: "tiny" (small CNNs for
// monet and vangogh) or "resnet101" (torchvision ResNet-101 with the published head, random
// seeded weights), laid out <artist>/<version>/. ARTAUTH_TEST_MODELS points at the sets.
func Models(t testing.TB, set string) string {
	t.Helper()
	root := os.Getenv("ARTAUTH_TEST_MODELS")
	if root == "" {
		Missing(t, "test models: set ARTAUTH_TEST_MODELS (scripts/deps.sh exports them)")
	}
	dir := filepath.Join(root, set)
	if _, err := os.Stat(dir); err != nil {
		Missing(t, "test model set %q: %v", set, err)
	}
	return dir
}

// ArtDir returns the shared art image directory: ARTAUTH_ART_DIR, else shared/data/art found
// beside or above the repository.
func ArtDir(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("ARTAUTH_ART_DIR"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for i := 0; i < 6; i++ {
		cand := filepath.Join(dir, "shared", "data", "art")
		if _, err := os.Stat(filepath.Join(cand, "MANIFEST.md")); err == nil {
			return cand
		}
		dir = filepath.Dir(dir)
	}
	Missing(t, "shared art images: set ARTAUTH_ART_DIR")
	return ""
}

// ArtImages returns up to n files of one art sub-folder, sorted by name.
func ArtImages(t testing.TB, sub string, n int) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(ArtDir(t), sub, "*.jpg"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no images under %s: %v", sub, err)
	}
	if n > 0 && len(files) > n {
		files = files[:n]
	}
	return files
}

// Eventually polls cond every 50 ms until it is true or the timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

// Repo returns the repository root.
func Repo(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	return strings.TrimSuffix(filepath.Dir(file), filepath.FromSlash("/internal/testenv"))
}

// OutboxRequest returns the classification request that ingest wrote to the outbox for a
// submission, so that a test can publish it (or a changed copy) itself.
func OutboxRequest(t testing.TB, st *store.Store, submissionID uuid.UUID) events.ClassifyRequest {
	t.Helper()
	var payload []byte
	err := st.Pool.QueryRow(context.Background(), `SELECT payload FROM outbox WHERE msg_id = $1`,
		"classify:"+submissionID.String()).Scan(&payload)
	if err != nil {
		t.Fatalf("outbox message of submission %s: %v", submissionID, err)
	}
	req, err := events.DecodeClassifyRequest(payload)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
