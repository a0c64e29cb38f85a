package slbsim

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aliyun/alibaba-cloud-sdk-go/sdk"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth"
	"github.com/aliyun/alibaba-cloud-sdk-go/sdk/auth/credentials"
	"github.com/aliyun/alibaba-cloud-sdk-go/services/slb"
)

// NewClient returns a real SDK slb client that sends its calls to baseURL
// ("http://127.0.0.1:port"), with the SDK's automatic retry off and timeout
// as both its connect and read timeout (0: the SDK's defaults). Like any SDK
// client it is not safe for concurrent calls: use one per goroutine.
func NewClient(baseURL, region, accessKeyID, secret string, timeout time.Duration) (*slb.Client, error) {
	return NewClientWithCredential(baseURL, region, credentials.NewAccessKeyCredential(accessKeyID, secret), timeout)
}

// NewSTSClient is NewClient signing with an STS credential: the
// SecurityToken goes into every call.
func NewSTSClient(baseURL, region string, c STSCredential, timeout time.Duration) (*slb.Client, error) {
	return NewClientWithCredential(baseURL, region,
		credentials.NewStsTokenCredential(c.AccessKeyID, c.AccessKeySecret, c.SecurityToken), timeout)
}

// NewClientWithCredential is NewClient with any credential of the SDK.
func NewClientWithCredential(baseURL, region string, credential auth.Credential, timeout time.Duration) (*slb.Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("slbsim: parse endpoint %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("slbsim: endpoint %q: want http://host:port", baseURL)
	}
	cfg := sdk.NewConfig().WithScheme(strings.ToUpper(u.Scheme)).WithAutoRetry(false)
	client, err := slb.NewClientWithOptions(region, cfg, credential)
	if err != nil {
		return nil, fmt.Errorf("slbsim: new slb client for %s: %w", baseURL, err)
	}
	// The SDK takes the client's Domain before any endpoint table.
	client.Domain = u.Host
	// The SDK applies HTTP_PROXY from the environment itself; the emulator
	// is local and must be reached directly.
	client.SetNoProxy(regexp.QuoteMeta(u.Host))
	if timeout > 0 {
		client.SetConnectTimeout(timeout)
		client.SetReadTimeout(timeout)
	}
	return client, nil
}
