package events

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
)

// ObjectCreated is one object-created record of an S3 bucket notification.
type ObjectCreated struct {
	EventName string
	Bucket    string
	// Key is the key as the notification wrote it. AWS and MinIO URL-encode keys (a space is
	// "+"); versitygw does not. KeyCandidates lists the keys to try, most likely first.
	Key          string
	Size         int64
	ETag         string
	VersionID    string
	Sequencer    string
	ContentType  string
	UserMetadata map[string]string
}

// KeyCandidates returns the URL-decoded key and, when it differs, the key as written.
func (o ObjectCreated) KeyCandidates() []string {
	dec, err := url.QueryUnescape(o.Key)
	if err != nil || dec == o.Key {
		return []string{o.Key}
	}
	return []string{dec, o.Key}
}

// Version identifies this version of the object: the version ID where the bucket keeps
// versions, else the ETag (which changes with the content).
func (o ObjectCreated) Version() string {
	if o.VersionID != "" && o.VersionID != "null" {
		return "v:" + o.VersionID
	}
	return "etag:" + strings.Trim(o.ETag, `"`)
}

type s3Record struct {
	EventName string `json:"eventName"`
	S3        struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key          string            `json:"key"`
			Size         int64             `json:"size"`
			ETag         *string           `json:"eTag"`
			VersionID    *string           `json:"versionId"`
			Sequencer    string            `json:"sequencer"`
			ContentType  string            `json:"contentType"`
			UserMetadata map[string]string `json:"userMetadata"`
		} `json:"object"`
	} `json:"s3"`
}

type envelope struct {
	Records []s3Record `json:"Records"`
	// SNS wraps the notification as a JSON string.
	Type    string `json:"Type"`
	Message string `json:"Message"`
	// EventBridge sends one object per event.
	DetailType string `json:"detail-type"`
	Detail     *struct {
		Bucket struct {
			Name string `json:"name"`
		} `json:"bucket"`
		Object struct {
			Key       string `json:"key"`
			Size      int64  `json:"size"`
			ETag      string `json:"etag"`
			VersionID string `json:"version-id"`
			Sequencer string `json:"sequencer"`
		} `json:"object"`
	} `json:"detail"`
}

// ParseS3Notification reads a bucket notification in the standard S3 event JSON, as sent by
// AWS (directly, through SNS or through EventBridge), MinIO and versitygw, and returns its
// object-created records. Test events and other event types give an empty slice and no error;
// a body that is not such JSON gives an error.
func ParseS3Notification(data []byte) ([]ObjectCreated, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, fmt.Errorf("decode s3 notification: %w", err)
	}
	if env.Type == "Notification" && env.Message != "" {
		return ParseS3Notification([]byte(env.Message))
	}
	if env.Detail != nil {
		if env.DetailType != "Object Created" {
			return nil, nil
		}
		d := env.Detail
		return []ObjectCreated{{
			EventName: "ObjectCreated", Bucket: d.Bucket.Name, Key: d.Object.Key,
			Size: d.Object.Size, ETag: d.Object.ETag, VersionID: d.Object.VersionID,
			Sequencer: d.Object.Sequencer,
		}}, nil
	}
	var out []ObjectCreated
	for i, r := range env.Records {
		name := strings.TrimPrefix(r.EventName, "s3:")
		if !strings.HasPrefix(name, "ObjectCreated:") {
			continue
		}
		o := r.S3.Object
		if r.S3.Bucket.Name == "" || o.Key == "" {
			return nil, fmt.Errorf("s3 notification record %d (%s): bucket %q key %q: both required",
				i, r.EventName, r.S3.Bucket.Name, o.Key)
		}
		oc := ObjectCreated{
			EventName: name, Bucket: r.S3.Bucket.Name, Key: o.Key, Size: o.Size,
			Sequencer: o.Sequencer, ContentType: o.ContentType, UserMetadata: o.UserMetadata,
		}
		if o.ETag != nil {
			oc.ETag = *o.ETag
		}
		if o.VersionID != nil {
			oc.VersionID = *o.VersionID
		}
		out = append(out, oc)
	}
	return out, nil
}
