package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/artauth/artauth/internal/config"
	"github.com/artauth/artauth/internal/ingest"
	"github.com/artauth/artauth/internal/store"
)

func submitCmd(args []string) error {
	var (
		base    string
		claim   ingest.Claim
		wait    bool
		timeout time.Duration
		note    string
	)
	fs := config.New("authctl submit")
	fs.String(&base, "url", "INGEST_URL", "http://127.0.0.1:8080", "ingest base URL")
	fs.String(&claim.ClaimedArtist, "artist", "", "", "claimed artist slug, e.g. monet")
	fs.String(&claim.Submitter, "submitter", "", "authctl", "submitter name")
	fs.String(&claim.ProvenanceNotes, "notes", "", "", "provenance notes")
	fs.Bool(&wait, "wait", "", false, "wait for the results and print them as a table")
	fs.Duration(&timeout, "timeout", "", 5*time.Minute, "how long -wait waits")
	fs.String(&note, "note", "", "", "text printed under the table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("submit: name at least one image file")
	}
	type row struct {
		file string
		id   string
	}
	var rows []row
	for _, file := range fs.Args() {
		c := claim
		c.Title = filepath.Base(file)
		c.ExternalRef = "authctl:" + filepath.Base(file)
		resp, err := upload(base, file, c)
		if err != nil {
			return err
		}
		rows = append(rows, row{file: filepath.Base(file), id: resp.SubmissionID.String()})
		if !wait {
			fmt.Printf("%s\t%s\t%s\n", resp.SubmissionID, resp.Status, file)
		}
	}
	if !wait {
		return nil
	}

	deadline := time.Now().Add(timeout)
	views := make([]store.SubmissionView, len(rows))
	for i, r := range rows {
		for {
			v, err := fetchStatus(base, r.id)
			if err != nil {
				return err
			}
			if v.Status != store.StatusQueued {
				views[i] = v
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("submission %s (%s) still queued after %s", r.id, r.file, timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "IMAGE\tCLAIMED ARTIST\tMODEL\tVERSION\tSCORE\tDECISION\tAI SCORE\tVERDICT")
	for i, v := range views {
		if v.Result == nil {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\tfailed: %s\t-\t-\n", rows[i].file, v.ClaimedArtist,
				v.FailureReason)
			continue
		}
		r := v.Result
		verdict, ai := "-", "-"
		if v.Verdict != nil {
			verdict = v.Verdict.Verdict
			var scores struct {
				AI *float64 `json:"ai_detector"`
			}
			if json.Unmarshal(v.Verdict.Scores, &scores) == nil && scores.AI != nil {
				ai = fmt.Sprintf("%.4f", *scores.AI)
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.4f\t%s\t%s\t%s\n", rows[i].file, v.ClaimedArtist,
			r.ModelArtist, r.ModelVersion, r.Score, r.Decision, ai, verdict)
	}
	tw.Flush()
	if note != "" {
		fmt.Println(note)
	}
	return nil
}

func upload(base, file string, c ingest.Claim) (ingest.SubmitResponse, error) {
	var out ingest.SubmitResponse
	data, err := os.ReadFile(file)
	if err != nil {
		return out, err
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	meta, _ := json.Marshal(c)
	mw.WriteField("metadata", string(meta))
	fw, _ := mw.CreateFormFile("image", filepath.Base(file))
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(strings.TrimRight(base, "/")+"/v1/artworks", mw.FormDataContentType(),
		&body)
	if err != nil {
		return out, fmt.Errorf("upload %s: %w", file, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("upload %s: %s: %s", file, resp.Status, strings.TrimSpace(string(raw)))
	}
	return out, json.Unmarshal(raw, &out)
}

func fetchStatus(base, id string) (store.SubmissionView, error) {
	var v store.SubmissionView
	resp, err := http.Get(strings.TrimRight(base, "/") + "/v1/submissions/" + id)
	if err != nil {
		return v, fmt.Errorf("status of %s: %w", id, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return v, fmt.Errorf("status of %s: %s: %s", id, resp.Status, strings.TrimSpace(string(raw)))
	}
	return v, json.Unmarshal(raw, &v)
}

func statusCmd(args []string) error {
	var base string
	fs := config.New("authctl status")
	fs.String(&base, "url", "INGEST_URL", "http://127.0.0.1:8080", "ingest base URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("status: name one submission ID")
	}
	v, err := fetchStatus(base, fs.Arg(0))
	if err != nil {
		return err
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
