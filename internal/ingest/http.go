package ingest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/artauth/artauth/internal/store"
)

// Handler returns the HTTP API:
//
//	POST /v1/artworks              multipart: "image" file part, claim as a "metadata" JSON
//	                               part or as form fields; 202 new, 200 already submitted
//	GET  /v1/submissions/{id}      status and result
//	POST /v1/uploads               presigned PUT URL into the uploads bucket
//	GET  /healthz, GET /readyz     liveness, readiness (Postgres reachable)
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/artworks", s.postArtwork)
	mux.HandleFunc("GET /v1/submissions/{id}", s.getSubmission)
	mux.HandleFunc("POST /v1/uploads", s.postUpload)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if err := s.st.Pool.Ping(r.Context()); err != nil {
			writeError(w, http.StatusServiceUnavailable, "database unreachable")
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	return s.logRequests(mux)
}

// SubmitResponse is the body of a successful POST /v1/artworks.
type SubmitResponse struct {
	SubmissionID  uuid.UUID `json:"submission_id"`
	ArtworkID     uuid.UUID `json:"artwork_id"`
	ArtworkSHA256 string    `json:"artwork_sha256"`
	Status        string    `json:"status"`
	StatusURL     string    `json:"status_url"`
	Duplicate     bool      `json:"duplicate"`
	// KnownArtwork is true when the same bytes were submitted before (for any artist).
	KnownArtwork bool `json:"known_artwork"`
}

func (s *Service) postArtwork(w http.ResponseWriter, r *http.Request) {
	// Room for the image plus the form's other parts.
	r.Body = http.MaxBytesReader(w, r.Body, s.cfg.Limits.MaxBytes+(1<<20))
	data, claim, err := s.readUpload(r)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	acc, err := s.Submit(r.Context(), data, claim, store.SourceAPI, nil)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	status := http.StatusAccepted
	if !acc.Created {
		status = http.StatusOK
	}
	writeJSON(w, status, SubmitResponse{
		SubmissionID: acc.Submission.ID, ArtworkID: acc.Artwork.ID,
		ArtworkSHA256: acc.Artwork.SHA256, Status: acc.Submission.Status,
		StatusURL: s.cfg.PublicURL + "/v1/submissions/" + acc.Submission.ID.String(),
		Duplicate: !acc.Created, KnownArtwork: acc.Artwork.Existed,
	})
}

// readUpload reads the multipart body part by part, so the image is read once and bounded.
func (s *Service) readUpload(r *http.Request) ([]byte, Claim, error) {
	var claim Claim
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" {
		return nil, claim, &InputError{Msg: fmt.Sprintf("content type %q: want multipart/form-data",
			r.Header.Get("Content-Type")), Status: http.StatusUnsupportedMediaType}
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, claim, &InputError{Msg: "read multipart body: " + err.Error()}
	}
	var data []byte
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, claim, bodyError("read multipart body", err)
		}
		switch name := part.FormName(); name {
		case "image":
			if data != nil {
				return nil, claim, &InputError{Msg: "more than one image part: send one image"}
			}
			data, err = readLimited(part, s.cfg.Limits.MaxBytes)
			if err != nil {
				return nil, claim, err
			}
		case "metadata":
			if err := json.NewDecoder(io.LimitReader(part, 64<<10)).Decode(&claim); err != nil {
				return nil, claim, &InputError{Msg: "metadata part: invalid JSON: " + err.Error()}
			}
		case "claimed_artist", "title", "external_ref", "submitter", "provenance_notes",
			"attribute":
			v, err := readField(part)
			if err != nil {
				return nil, claim, err
			}
			setField(&claim, name, v)
		default:
			// Unknown parts are drained and ignored, so clients may send more than we read.
			io.Copy(io.Discard, part)
		}
	}
	if len(data) == 0 {
		return nil, claim, &InputError{Msg: `missing image: send the file in a part named "image"`}
	}
	return data, claim, nil
}

func readLimited(part *multipart.Part, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(part, limit+1))
	if err != nil {
		return nil, bodyError("read image part", err)
	}
	if int64(len(data)) > limit {
		return nil, &InputError{Msg: fmt.Sprintf("image is over %d bytes", limit),
			Status: http.StatusRequestEntityTooLarge}
	}
	return data, nil
}

func readField(part *multipart.Part) (string, error) {
	b, err := io.ReadAll(io.LimitReader(part, maxNotesField+1))
	if err != nil {
		return "", bodyError("read form field", err)
	}
	return string(b), nil
}

func setField(c *Claim, name, v string) {
	switch name {
	case "claimed_artist":
		c.ClaimedArtist = v
	case "title":
		c.Title = v
	case "external_ref":
		c.ExternalRef = v
	case "submitter":
		c.Submitter = v
	case "provenance_notes":
		c.ProvenanceNotes = v
	case "attribute":
		c.Attribute = v == "true" || v == "1" || v == "yes"
	}
}

func bodyError(what string, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &InputError{Msg: fmt.Sprintf("request body over %d bytes", tooBig.Limit),
			Status: http.StatusRequestEntityTooLarge}
	}
	return &InputError{Msg: what + ": " + err.Error()}
}

func (s *Service) getSubmission(w http.ResponseWriter, r *http.Request) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("submission id %q: not a UUID",
			r.PathValue("id")))
		return
	}
	v, err := s.st.GetSubmission(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("submission %s not found", id))
		return
	}
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

// UploadRequest asks for a presigned upload URL.
type UploadRequest struct {
	Claim
	// Filename is kept in the key for people browsing the bucket. Optional.
	Filename string `json:"filename"`
}

// UploadResponse tells the client where and how to PUT the image.
type UploadResponse struct {
	URL       string            `json:"url"`
	Method    string            `json:"method"`
	Headers   map[string]string `json:"headers"`
	Bucket    string            `json:"bucket"`
	Key       string            `json:"key"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// postUpload presigns a PUT into the uploads bucket under <artist>/<uuid>[-filename], with the
// claim in the object's metadata; the bucket notification then makes it a submission.
func (s *Service) postUpload(w http.ResponseWriter, r *http.Request) {
	var req UploadRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid JSON body: "+err.Error())
		return
	}
	if err := req.Claim.Validate(); err != nil {
		s.writeErr(w, r, err)
		return
	}
	key := req.ClaimedArtist + "/" + uuid.NewString()
	if name := safeName(req.Filename); name != "" {
		key += "-" + name
	}
	meta := map[string]string{MetaClaimedArtist: req.ClaimedArtist}
	for k, v := range map[string]string{MetaTitle: req.Title, MetaExternalRef: req.ExternalRef,
		MetaSubmitter: req.Submitter, MetaProvenanceNotes: req.ProvenanceNotes} {
		if v != "" {
			meta[k] = v
		}
	}
	url, hdr, err := s.blobs.PresignPut(r.Context(), s.cfg.UploadsBucket, key,
		s.cfg.PresignTTL, meta)
	if err != nil {
		s.writeErr(w, r, err)
		return
	}
	headers := map[string]string{}
	for k, v := range hdr {
		if strings.EqualFold(k, "host") {
			continue
		}
		headers[k] = strings.Join(v, ",")
	}
	writeJSON(w, http.StatusOK, UploadResponse{URL: url, Method: http.MethodPut,
		Headers: headers, Bucket: s.cfg.UploadsBucket, Key: key,
		ExpiresAt: time.Now().Add(s.cfg.PresignTTL).UTC()})
}

func safeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		if b.Len() >= 80 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.',
			r == '_', r == '-':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func (s *Service) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var in *InputError
	if errors.As(err, &in) {
		status := in.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		writeError(w, status, in.Msg)
		return
	}
	// Internal errors are logged in full and answered without detail.
	zerolog.Ctx(r.Context()).Error().Err(err).Msg("request failed")
	writeError(w, http.StatusServiceUnavailable, "temporarily unable to process the request; retry")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// logRequests writes one line per request, its level set by the outcome.
func (s *Service) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		log := s.log.With().Str("method", r.Method).Str("path", r.URL.Path).Logger()
		next.ServeHTTP(rec, r.WithContext(log.WithContext(r.Context())))
		level := zerolog.InfoLevel
		switch {
		case rec.status >= 500:
			level = zerolog.ErrorLevel
		case rec.status >= 400:
			level = zerolog.WarnLevel
		case r.URL.Path == "/healthz" || r.URL.Path == "/readyz":
			level = zerolog.DebugLevel
		}
		log.WithLevel(level).Int("status", rec.status).
			Float64("duration_ms", float64(time.Since(start).Microseconds())/1000).
			Msg("request")
	})
}
