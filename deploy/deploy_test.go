// Offline checks of the deployment files: docker-compose.yml, deploy/*.Dockerfile and
// deploy/k8s. No Docker engine and no network: the compose file is loaded with compose-go, the
// Dockerfiles are parsed with BuildKit's parser, and the environment variables the files set
// are compared with the ones the binaries read, taken from their -h output so that renaming a
// flag's variable breaks this test.
package deploy_test

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"go.yaml.in/yaml/v4"
)

// root is the repository root, relative to this package's directory (go test's working one).
const root = ".."

// ---- what the binaries read ----

var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// buildBinaries builds the three commands once per test run. It is `go run ./cmd/X -h` with
// one build instead of three.
func buildBinaries(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "artauth-deploy-test-")
		if binErr != nil {
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+string(filepath.Separator),
			"./cmd/ingest", "./cmd/classifier-worker", "./cmd/authctl")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/...: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

var envInUsage = regexp.MustCompile(`\(env ([A-Z][A-Z0-9_]*)[;)]`)

var (
	helpMu    sync.Mutex
	helpCache = map[string]map[string]bool{}
)

// envVarsOf runs a command with -h and returns the variables its usage names, "(env X)".
func envVarsOf(t *testing.T, name string, args ...string) map[string]bool {
	t.Helper()
	key := strings.Join(append([]string{name}, args...), " ")
	helpMu.Lock()
	defer helpMu.Unlock()
	if vars, ok := helpCache[key]; ok {
		return vars
	}
	cmd := exec.Command(filepath.Join(buildBinaries(t), name), append(args, "-h")...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatalf("%s -h: %v", key, err)
		}
	}
	vars := map[string]bool{}
	for _, m := range envInUsage.FindAllStringSubmatch(string(out), -1) {
		vars[m[1]] = true
	}
	if !vars["DATABASE_URL"] {
		t.Fatalf("%s -h names no DATABASE_URL; is the usage format still \"(env X)\"?\n%s",
			key, out)
	}
	helpCache[key] = vars
	return vars
}

// readVars is which command reads the environment of each compose service running our images.
var readVars = map[string][]string{
	"ingest":            {"ingest"},
	"classifier-worker": {"classifier-worker"},
	"migrate":           {"authctl", "migrate"},
	"models":            {"authctl", "models", "register"},
}

// ---- scripts/deps.sh, the single place versions and checksums are pinned ----

func depsValue(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "scripts", "deps.sh"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `=(\S+)$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("scripts/deps.sh sets no %s=", name)
	}
	return string(m[1])
}

// ---- docker-compose.yml ----

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	dir, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	// An empty environment: every ${VAR:-default} takes its default, whatever this shell has.
	details := types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "docker-compose.yml")}},
		Environment: types.Mapping{},
	}
	p, err := loader.LoadWithContext(context.Background(), details, func(o *loader.Options) {
		o.SetProjectName("artauth", true)
	})
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func env(s types.ServiceConfig, name string) (string, bool) {
	v, ok := s.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func mustEnv(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := env(s, name)
	if !ok {
		t.Fatalf("service %s: %s not set", s.Name, name)
	}
	return v
}

// flagArg returns the argument after flag in a command line.
func flagArg(cmd []string, flag string) string {
	i := slices.Index(cmd, flag)
	if i < 0 || i+1 >= len(cmd) {
		return ""
	}
	return cmd[i+1]
}

func TestCompose(t *testing.T) {
	p := loadCompose(t)
	svc := map[string]types.ServiceConfig{}
	for _, name := range []string{"postgres", "nats", "s3", "migrate", "models", "ingest",
		"classifier-worker"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		svc[name] = s
	}

	t.Run("depends_on", func(t *testing.T) {
		healthy, done := types.ServiceConditionHealthy, types.ServiceConditionCompletedSuccessfully
		want := map[string]map[string]string{
			"s3":      {"nats": healthy},
			"migrate": {"postgres": healthy},
			"models":  {"migrate": done, "nats": healthy, "s3": healthy},
			"ingest": {"migrate": done, "postgres": healthy, "nats": healthy,
				"s3": healthy},
			"classifier-worker": {"migrate": done, "models": done, "postgres": healthy,
				"nats": healthy, "s3": healthy},
		}
		for name, deps := range want {
			for dep, cond := range deps {
				got, ok := svc[name].DependsOn[dep]
				if !ok {
					t.Errorf("%s does not depend on %s", name, dep)
				} else if got.Condition != cond {
					t.Errorf("%s depends on %s with condition %q, want %q", name, dep,
						got.Condition, cond)
				}
			}
		}
		// A service_healthy dependency needs a health check to become healthy.
		for name, s := range svc {
			for dep, d := range s.DependsOn {
				if d.Condition == healthy && p.Services[dep].HealthCheck == nil {
					t.Errorf("%s waits for %s to be healthy, which has no healthcheck",
						name, dep)
				}
			}
		}
	})

	t.Run("environment read by the binaries", func(t *testing.T) {
		for name, command := range readVars {
			known := envVarsOf(t, command[0], command[1:]...)
			s := svc[name]
			if len(s.Environment) == 0 {
				t.Errorf("service %s sets no environment", name)
			}
			for k := range s.Environment {
				if !known[k] {
					t.Errorf("service %s sets %s, which `%s -h` does not list", name, k,
						strings.Join(command, " "))
				}
			}
		}
	})

	t.Run("images and builds", func(t *testing.T) {
		if img := svc["postgres"].Image; !strings.HasPrefix(img, "postgres:16") {
			t.Errorf("postgres image %q, want postgres:16", img)
		}
		if img := svc["nats"].Image; !strings.HasPrefix(img, "nats:2.10") {
			t.Errorf("nats image %q, want nats:2.10", img)
		}
		want := map[string]string{
			"s3": "versitygw.Dockerfile", "migrate": "ingest.Dockerfile",
			"models": "ingest.Dockerfile", "ingest": "ingest.Dockerfile",
			"classifier-worker": "classifier-worker.Dockerfile",
		}
		for name, dockerfile := range want {
			b := svc[name].Build
			if b == nil {
				t.Errorf("service %s has no build", name)
				continue
			}
			if fi, err := os.Stat(b.Context); err != nil || !fi.IsDir() {
				t.Errorf("service %s: build context %s is not a directory", name, b.Context)
			}
			path := b.Dockerfile
			if !filepath.IsAbs(path) {
				path = filepath.Join(b.Context, path)
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("service %s: %v", name, err)
			}
			if rel, _ := filepath.Rel(filepath.Join(p.WorkingDir, "deploy"), path); rel !=
				dockerfile {
				t.Errorf("service %s builds %s, want deploy/%s", name, path, dockerfile)
			}
		}
		// Go code needs go.mod in the context.
		for _, name := range []string{"ingest", "classifier-worker"} {
			ctx := svc[name].Build.Context
			if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
				t.Errorf("service %s: build context %s holds no go.mod", name, ctx)
			}
		}
		for _, name := range []string{"migrate", "models"} {
			if svc[name].Image != svc["ingest"].Image {
				t.Errorf("%s runs image %q, ingest %q: want the same", name, svc[name].Image,
					svc["ingest"].Image)
			}
		}
	})

	t.Run("postgres", func(t *testing.T) {
		hc := svc["postgres"].HealthCheck
		if hc == nil || !slices.Contains(hc.Test, "pg_isready") {
			t.Errorf("postgres health check %v, want pg_isready", hc)
		}
		pass := mustEnv(t, svc["postgres"], "POSTGRES_PASSWORD")
		for _, name := range []string{"migrate", "models", "ingest", "classifier-worker"} {
			raw := mustEnv(t, svc[name], "DATABASE_URL")
			u, err := url.Parse(raw)
			if err != nil || strings.ContainsAny(raw, " \t\n") {
				t.Errorf("%s: DATABASE_URL %q: %v", name, raw, err)
				continue
			}
			pw, _ := u.User.Password()
			if u.Scheme != "postgres" || u.Hostname() != "postgres" || u.Path != "/artauth" ||
				pw != pass {
				t.Errorf("%s: DATABASE_URL %q: want postgres://postgres:<POSTGRES_PASSWORD>"+
					"@postgres/artauth", name, raw)
			}
		}
		if cmd := svc["migrate"].Command; !slices.Equal(cmd,
			types.ShellCommand{"authctl", "migrate", "-create"}) {
			t.Errorf("migrate command %q, want authctl migrate -create", cmd)
		}
	})

	t.Run("nats", func(t *testing.T) {
		cmd := svc["nats"].Command
		if !slices.Contains(cmd, "-js") || flagArg(cmd, "-sd") != "/data" {
			t.Errorf("nats command %q, want -js -sd /data", cmd)
		}
		hc := svc["nats"].HealthCheck
		if hc == nil || !strings.Contains(strings.Join(hc.Test, " "), ":8222/healthz") {
			t.Errorf("nats health check %v, want the monitoring port's /healthz", hc)
		}
		if flagArg(cmd, "-m") != "8222" {
			t.Errorf("nats command %q: the monitoring port 8222 (-m) is not enabled", cmd)
		}
	})

	t.Run("s3 wiring", func(t *testing.T) {
		s3 := svc["s3"]
		topic := flagArg(s3.Command, "--event-nats-topic")
		natsURL := flagArg(s3.Command, "--event-nats-url")
		if topic == "" || natsURL != "nats://nats:4222" {
			t.Fatalf("s3 command %q: want --event-nats-url nats://nats:4222 and a topic",
				s3.Command)
		}
		if !slices.Contains(s3.Command, "posix") {
			t.Errorf("s3 command %q: want the posix backend", s3.Command)
		}
		for _, name := range []string{"models", "ingest", "classifier-worker"} {
			s := svc[name]
			if got := mustEnv(t, s, "ARTAUTH_S3_EVENTS_SUBJECT"); got != topic {
				t.Errorf("%s listens on %q, s3 publishes on %q", name, got, topic)
			}
			if got := mustEnv(t, s, "NATS_URL"); got != natsURL {
				t.Errorf("%s: NATS_URL %q, s3 publishes to %q", name, got, natsURL)
			}
			for ours, theirs := range map[string]string{
				"S3_ACCESS_KEY_ID":     "ROOT_ACCESS_KEY_ID",
				"S3_SECRET_ACCESS_KEY": "ROOT_SECRET_ACCESS_KEY",
			} {
				if a, b := mustEnv(t, s, ours), mustEnv(t, s3, theirs); a != b || a == "" {
					t.Errorf("%s: %s %q does not match s3's %s %q", name, ours, a, theirs, b)
				}
			}
			u, err := url.Parse(mustEnv(t, s, "S3_ENDPOINT"))
			if err != nil || u.Hostname() != "s3" || u.Port() != "7070" {
				t.Errorf("%s: S3_ENDPOINT does not name the s3 service on 7070", name)
			}
		}
	})

	t.Run("ingest", func(t *testing.T) {
		s := svc["ingest"]
		if got := mustEnv(t, s, "HTTP_ADDR"); got != "0.0.0.0:8080" {
			t.Errorf("ingest HTTP_ADDR %q, want 0.0.0.0:8080", got)
		}
		published := false
		for _, port := range s.Ports {
			published = published || (port.Target == 8080 && port.Published == "8080")
		}
		if !published {
			t.Errorf("ingest ports %v: want 8080:8080", s.Ports)
		}
	})

	t.Run("models job", func(t *testing.T) {
		s := svc["models"]
		mounts := map[string]types.ServiceVolumeConfig{}
		for _, v := range s.Volumes {
			mounts[v.Target] = v
		}
		m, ok := mounts["/models"]
		switch {
		case !ok:
			t.Error("nothing mounted at /models")
		case !m.ReadOnly:
			t.Error("/models is mounted read-write")
		case m.Type != types.VolumeTypeBind || m.Source != filepath.Join(p.WorkingDir, "models"):
			t.Errorf("/models mounts %s %s, want the bind mount ./models by default", m.Type,
				m.Source)
		}
		script := filepath.Join(p.WorkingDir, "deploy", "register-models.sh")
		if len(s.Command) != 3 || s.Command[2] != "/models" ||
			mounts[s.Command[1]].Source != script || !mounts[s.Command[1]].ReadOnly {
			t.Errorf("models command %q: want sh <deploy/register-models.sh mounted "+
				"read-only> /models", s.Command)
		}
	})

	t.Run("named volumes", func(t *testing.T) {
		want := map[string]string{"postgres": "pgdata", "nats": "natsdata", "s3": "s3data"}
		for name, vol := range want {
			if _, ok := p.Volumes[vol]; !ok {
				t.Errorf("volume %s not declared", vol)
			}
			used := false
			for _, v := range svc[name].Volumes {
				used = used || (v.Type == types.VolumeTypeVolume && v.Source == vol)
			}
			if !used {
				t.Errorf("service %s does not mount the named volume %s", name, vol)
			}
		}
	})
}

// ---- Dockerfiles ----

type stage struct {
	name, base string
	nodes      []*parser.Node
}

type dockerfile struct {
	path   string
	stages []stage
}

func args(n *parser.Node) []string {
	var out []string
	for c := n.Next; c != nil; c = c.Next {
		out = append(out, c.Value)
	}
	return out
}

func parseDockerfile(t *testing.T, name string) dockerfile {
	t.Helper()
	path := filepath.Join(root, "deploy", name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	res, err := parser.Parse(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, w := range res.Warnings {
		t.Errorf("%s: parser warning: %s", name, w.Short)
	}
	df := dockerfile{path: path}
	for _, n := range res.AST.Children {
		if strings.EqualFold(n.Value, "from") {
			a := args(n)
			st := stage{base: a[0]}
			if len(a) == 3 && strings.EqualFold(a[1], "as") {
				st.name = strings.ToLower(a[2])
			}
			df.stages = append(df.stages, st)
			continue
		}
		if len(df.stages) == 0 {
			continue // ARG before the first FROM
		}
		last := &df.stages[len(df.stages)-1]
		last.nodes = append(last.nodes, n)
	}
	if len(df.stages) == 0 {
		t.Fatalf("%s: no FROM", name)
	}
	return df
}

func (s stage) each(instr string) []*parser.Node {
	var out []*parser.Node
	for _, n := range s.nodes {
		if strings.EqualFold(n.Value, instr) {
			out = append(out, n)
		}
	}
	return out
}

// runText is the stage's RUN commands joined, for substring checks.
func (s stage) runText() string {
	var parts []string
	for _, n := range s.each("run") {
		parts = append(parts, strings.Join(args(n), " "))
	}
	return strings.Join(parts, "\n")
}

// envs are the stage's ENV settings.
func (s stage) envs() map[string]string {
	out := map[string]string{}
	for _, n := range s.each("env") {
		a := args(n)
		for i := 0; i+1 < len(a); i += 3 { // name, value, "=" (or "" for ENV K V)
			out[a[i]] = a[i+1]
		}
	}
	return out
}

// argDefault is the default of an ARG in the stage.
func (s stage) argDefault(name string) (string, bool) {
	for _, n := range s.each("arg") {
		for _, a := range args(n) {
			if k, v, ok := strings.Cut(a, "="); ok && k == name {
				return v, true
			}
		}
	}
	return "", false
}

func (d dockerfile) stage(t *testing.T, name string) stage {
	t.Helper()
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("%s: no stage %q", d.path, name)
	return stage{}
}

func (d dockerfile) runtime() stage { return d.stages[len(d.stages)-1] }

// checkStageRefs checks that every COPY --from and RUN --mount from= names an earlier stage.
func checkStageRefs(t *testing.T, d dockerfile) {
	t.Helper()
	seen := map[string]bool{}
	for _, s := range d.stages {
		for _, n := range s.nodes {
			var refs []string
			for _, f := range n.Flags {
				if v, ok := strings.CutPrefix(f, "--from="); ok {
					refs = append(refs, v)
				}
				if v, ok := strings.CutPrefix(f, "--mount="); ok {
					for _, kv := range strings.Split(v, ",") {
						if from, ok := strings.CutPrefix(kv, "from="); ok {
							refs = append(refs, from)
						}
					}
				}
			}
			for _, r := range refs {
				if !seen[strings.ToLower(r)] {
					t.Errorf("%s line %d: %s refers to %q, not an earlier stage",
						d.path, n.StartLine, n.Original, r)
				}
			}
		}
		if s.name != "" {
			seen[s.name] = true
		}
	}
}

// checkNonRoot checks that the image's last USER is neither root nor uid 0.
func checkNonRoot(t *testing.T, d dockerfile) {
	t.Helper()
	users := d.runtime().each("user")
	if len(users) == 0 {
		t.Errorf("%s: runtime stage has no USER: it would run as root", d.path)
		return
	}
	u := strings.SplitN(args(users[len(users)-1])[0], ":", 2)[0]
	if u == "root" || u == "0" {
		t.Errorf("%s: runtime stage runs as %s", d.path, u)
	}
}

func TestDockerfiles(t *testing.T) {
	for _, tc := range []struct{ file, binary string }{
		{"ingest.Dockerfile", "ingest"},
		{"classifier-worker.Dockerfile", "classifier-worker"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			d := parseDockerfile(t, tc.file)
			checkStageRefs(t, d)
			checkNonRoot(t, d)
			build := d.stage(t, "build")
			if build.base != "golang:1.26-bookworm" {
				t.Errorf("build stage FROM %s, want golang:1.26-bookworm", build.base)
			}
			if build.envs()["CGO_ENABLED"] != "1" {
				t.Error("build stage does not set CGO_ENABLED=1")
			}
			runs := build.runText()
			for _, want := range []string{"libturbojpeg0-dev", "./cmd/" + tc.binary,
				"./cmd/authctl"} {
				if !strings.Contains(runs, want) {
					t.Errorf("build stage never runs anything with %q", want)
				}
			}
			rt := d.runtime()
			if rt.base != "debian:bookworm-slim" {
				t.Errorf("runtime stage FROM %s, want debian:bookworm-slim", rt.base)
			}
			for _, pkg := range []string{"libturbojpeg0 ", "ca-certificates"} {
				if !strings.Contains(rt.runText()+" ", pkg) {
					t.Errorf("runtime stage does not install %s", strings.TrimSpace(pkg))
				}
			}
			var copied []string
			for _, n := range rt.each("copy") {
				if slices.Contains(n.Flags, "--from=build") {
					a := args(n)
					copied = append(copied, a[:len(a)-1]...)
				}
			}
			for _, bin := range []string{tc.binary, "authctl"} {
				if !slices.Contains(copied, "/out/"+bin) {
					t.Errorf("runtime stage does not copy /out/%s from the build stage", bin)
				}
			}
			cmds := rt.each("cmd")
			if len(cmds) == 0 || !slices.Equal(args(cmds[len(cmds)-1]), []string{tc.binary}) {
				t.Errorf("runtime stage's CMD is not [%q]", tc.binary)
			}
			known := envVarsOf(t, tc.binary)
			for k := range rt.envs() {
				if !known[k] {
					t.Errorf("runtime stage sets ENV %s, which `%s -h` does not list", k,
						tc.binary)
				}
			}
		})
	}

	t.Run("classifier-worker.Dockerfile ONNX Runtime", func(t *testing.T) {
		d := parseDockerfile(t, "classifier-worker.Dockerfile")
		var ort *stage
		for i, s := range d.stages {
			if strings.HasPrefix(s.base, "node:20-bookworm-slim") {
				ort = &d.stages[i]
			}
		}
		if ort == nil {
			t.Fatal("no stage FROM node:20-bookworm-slim fetches ONNX Runtime")
		}
		for arg, dep := range map[string]string{"ORT_SHA256": "ORT_SHA256",
			"ORT_VERSION": "ORT_VERSION"} {
			got, ok := ort.argDefault(arg)
			if want := depsValue(t, dep); !ok || got != want {
				t.Errorf("ARG %s=%q, scripts/deps.sh has %s=%s", arg, got, dep, want)
			}
		}
		runs := ort.runText()
		for _, want := range []string{"npm pack", "onnxruntime-node@${ORT_VERSION}",
			"sha256sum -c", "${ORT_SHA256}"} {
			if !strings.Contains(runs, want) {
				t.Errorf("ONNX Runtime stage never runs anything with %q", want)
			}
		}
		file, _ := ort.argDefault("ORT_FILE")
		if file != "package/bin/napi-v6/linux/x64/libonnxruntime.so.1" {
			t.Errorf("ORT_FILE %q is not the x64 library that scripts/deps.sh verifies", file)
		}
		rt := d.runtime()
		const lib = "/usr/local/lib/libonnxruntime.so.1"
		envs := rt.envs()
		if envs["ORT_LIB"] != lib {
			t.Errorf("runtime ENV ORT_LIB=%q, want %s", envs["ORT_LIB"], lib)
		}
		// The user has no home, so the default cache under ~/.cache cannot be written.
		cache := envs["MODEL_CACHE_DIR"]
		if cache == "" || !strings.Contains(rt.runText(), "mkdir -p "+cache) {
			t.Errorf("runtime stage does not set and create MODEL_CACHE_DIR (%q)", cache)
		}
		copied := false
		for _, n := range rt.each("copy") {
			a := args(n)
			copied = copied || (slices.Contains(n.Flags, "--from="+ort.name) &&
				a[len(a)-1] == lib)
		}
		if !copied {
			t.Errorf("runtime stage does not copy the library from stage %q to %s",
				ort.name, lib)
		}
	})

	t.Run("versitygw.Dockerfile", func(t *testing.T) {
		d := parseDockerfile(t, "versitygw.Dockerfile")
		checkStageRefs(t, d)
		checkNonRoot(t, d)
		build := d.stage(t, "build")
		want := depsValue(t, "VERSITYGW_VERSION")
		if got, _ := build.argDefault("VERSITYGW_VERSION"); got != want {
			t.Errorf("ARG VERSITYGW_VERSION=%q, scripts/deps.sh has %s", got, want)
		}
		if !strings.Contains(build.runText(),
			"go install github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}") &&
			!strings.Contains(build.runText(),
				"\"github.com/versity/versitygw/cmd/versitygw@${VERSITYGW_VERSION}\"") {
			t.Error("build stage does not go install versitygw@${VERSITYGW_VERSION}")
		}
	})
}

// ---- deploy/k8s ----

type k8sDeployment struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				Containers []struct {
					Name string `yaml:"name"`
					Env  []struct {
						Name  string `yaml:"name"`
						Value string `yaml:"value"`
					} `yaml:"env"`
					VolumeMounts []struct {
						MountPath string `yaml:"mountPath"`
						ReadOnly  bool   `yaml:"readOnly"`
					} `yaml:"volumeMounts"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func TestKubernetesWorker(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "classifier-worker.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d k8sDeployment
	if err := yaml.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.Kind != "Deployment" || len(d.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("want a Deployment of one container, got %s with %d", d.Kind,
			len(d.Spec.Template.Spec.Containers))
	}
	known := envVarsOf(t, "classifier-worker")
	c := d.Spec.Template.Spec.Containers[0]
	var names []string
	values := map[string]string{}
	for _, e := range c.Env {
		names = append(names, e.Name)
		values[e.Name] = e.Value
		if !known[e.Name] {
			t.Errorf("env %s is not read by classifier-worker (-h)", e.Name)
		}
	}
	sort.Strings(names)
	cache := values["MODEL_CACHE_DIR"]
	if cache == "" {
		cache = parseDockerfile(t, "classifier-worker.Dockerfile").runtime().
			envs()["MODEL_CACHE_DIR"]
	}
	mounted := false
	for _, m := range c.VolumeMounts {
		mounted = mounted || (m.MountPath == cache && !m.ReadOnly)
	}
	if !mounted {
		t.Errorf("no writable volume at the model cache %q", cache)
	}
	t.Logf("worker env: %s", strings.Join(names, " "))
}

// ---- deploy/register-models.sh, run with a fake authctl ----

func TestRegisterModelsScript(t *testing.T) {
	for _, tool := range []string{"sh", "awk", "sort", "ls", "basename"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s: %v", tool, err)
		}
	}
	dir := t.TempDir()
	models := filepath.Join(dir, "models")
	for _, f := range []string{"monet/1.2.0/model.json", "monet/1.10.0/model.json",
		"monet/ACTIVE", "monet/notes/readme.txt", "vangogh/1.0.0/model.json"} {
		path := filepath.Join(models, f)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(models, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The fake authctl logs its arguments; vangogh has an active version already.
	bin := filepath.Join(dir, "bin")
	fake := `#!/bin/sh
echo "$*" >>"$FAKE_LOG"
if [ "$1 $2 $3" = "models list vangogh" ]; then
	echo "ARTIST   VERSION  STATE   ARCH"
	echo "vangogh  0.9.0    active  tiny"
fi
`
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "authctl"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	cmd := exec.Command("sh", filepath.Join(root, "deploy", "register-models.sh"), models)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"FAKE_LOG="+log)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("register-models.sh: %v\n%s", err, out)
	}
	got, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"models register " + models + "/monet/1.2.0",
		"models register " + models + "/monet/1.10.0",
		"models list monet",
		"models activate monet@1.10.0",
		"models register " + models + "/vangogh/1.0.0",
		"models list vangogh",
	}, "\n") + "\n"
	if string(got) != want {
		t.Errorf("authctl calls:\n%s\nwant:\n%s", got, want)
	}
}
