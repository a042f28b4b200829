// Package blob stores and fetches artwork bytes in S3 or any S3-compatible server. A Client is
// safe for concurrent use.
package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// ErrNotFound is returned when the bucket or object does not exist.
var ErrNotFound = errors.New("object not found")

// ErrTooLarge is returned when an object is larger than the caller allows.
var ErrTooLarge = errors.New("object too large")

// Config says where the S3 server is. Empty credentials use the SDK's default chain
// (environment, shared files, instance roles).
type Config struct {
	// Endpoint of an S3-compatible server, such as http://127.0.0.1:7070. Empty means AWS.
	Endpoint string
	// Region. Default "us-east-1".
	Region    string
	AccessKey string
	SecretKey string
	// PathStyle addresses buckets as a path segment, as most S3-compatible servers need.
	PathStyle bool
}

// Client wraps the S3 API calls the system makes.
type Client struct {
	s3      *s3.Client
	presign *s3.PresignClient
}

// New builds a client; it makes no request.
func New(ctx context.Context, c Config) (*Client, error) {
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	opts := []func(*config.LoadOptions) error{config.WithRegion(c.Region)}
	if c.AccessKey != "" {
		opts = append(opts, config.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(c.AccessKey, c.SecretKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("load s3 config: %w", err)
	}
	cli := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
		}
		o.UsePathStyle = c.PathStyle
		// S3-compatible servers differ in their support of the newer default checksums.
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	return &Client{s3: cli, presign: s3.NewPresignClient(cli)}, nil
}

// EnsureBucket creates the bucket unless it exists.
func (c *Client) EnsureBucket(ctx context.Context, bucket string) error {
	_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: &bucket})
	if err == nil {
		return nil
	}
	_, err = c.s3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("create bucket %q: %w", bucket, err)
	}
	return nil
}

// Put writes an object.
func (c *Client) Put(ctx context.Context, bucket, key string, body []byte, contentType string,
	meta map[string]string) error {
	_, err := c.s3.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Body: bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))), ContentType: nonEmpty(contentType),
		Metadata: meta,
	})
	if err != nil {
		return fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// ObjectInfo is what HEAD tells about an object.
type ObjectInfo struct {
	Size        int64
	ETag        string
	VersionID   string
	ContentType string
	// Metadata holds the x-amz-meta-* headers, keys lowercased without the prefix.
	Metadata map[string]string
}

// Head returns an object's size and metadata, or ErrNotFound.
func (c *Client) Head(ctx context.Context, bucket, key string) (ObjectInfo, error) {
	out, err := c.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return ObjectInfo{}, wrapNotFound(err, "head s3://%s/%s", bucket, key)
	}
	meta := make(map[string]string, len(out.Metadata))
	for k, v := range out.Metadata {
		meta[strings.ToLower(k)] = v
	}
	return ObjectInfo{
		Size: aws.ToInt64(out.ContentLength), ETag: aws.ToString(out.ETag),
		VersionID: aws.ToString(out.VersionId), ContentType: aws.ToString(out.ContentType),
		Metadata: meta,
	}, nil
}

// Get reads a whole object of at most maxBytes bytes. It returns ErrNotFound or ErrTooLarge
// (checked from the declared length before reading, and again while reading).
func (c *Client) Get(ctx context.Context, bucket, key string, maxBytes int64) ([]byte, error) {
	out, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, wrapNotFound(err, "get s3://%s/%s", bucket, key)
	}
	defer out.Body.Close()
	n := aws.ToInt64(out.ContentLength)
	if maxBytes > 0 && n > maxBytes {
		return nil, fmt.Errorf("get s3://%s/%s: %d bytes, limit %d: %w",
			bucket, key, n, maxBytes, ErrTooLarge)
	}
	var buf bytes.Buffer
	if n > 0 {
		buf.Grow(int(n))
	}
	r := io.Reader(out.Body)
	if maxBytes > 0 {
		r = io.LimitReader(out.Body, maxBytes+1)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if maxBytes > 0 && int64(buf.Len()) > maxBytes {
		return nil, fmt.Errorf("get s3://%s/%s: over %d bytes: %w", bucket, key, maxBytes,
			ErrTooLarge)
	}
	return buf.Bytes(), nil
}

// PresignPut returns a URL that lets its holder PUT one object until it expires. Metadata
// given here must be sent as x-amz-meta-* headers with the PUT.
func (c *Client) PresignPut(ctx context.Context, bucket, key string, ttl time.Duration,
	meta map[string]string) (string, http.Header, error) {
	req, err := c.presign.PresignPutObject(ctx, &s3.PutObjectInput{
		Bucket: &bucket, Key: &key, Metadata: meta,
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", nil, fmt.Errorf("presign put s3://%s/%s: %w", bucket, key, err)
	}
	return req.URL, req.SignedHeader, nil
}

// ContentKey is the content-addressed key of an artwork's original bytes.
func ContentKey(sha256 string) string {
	return "sha256/" + sha256[:2] + "/" + sha256[2:4] + "/" + sha256
}

func wrapNotFound(err error, format string, args ...any) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound", "NoSuchBucket":
			return fmt.Errorf(format+": %w", append(args, ErrNotFound)...)
		}
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
