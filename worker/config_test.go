package worker

import (
	"strings"
	"testing"
	"time"
)

func TestConfigValidateNamesEveryBadSetting(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBatch = 21
	cfg.Concurrency = -1
	cfg.SLBQPS = -1
	cfg.MaxRetry = -time.Second
	cfg.PullExpiry, cfg.PullHeartbeat = 2*time.Second, time.Second
	err := cfg.withDefaults().Validate()
	if err == nil {
		t.Fatal("invalid config accepted")
	}
	for _, want := range []string{"max batch 21", "concurrency -1", "slb qps -1", "max retry -1s", "pull heartbeat 1s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if err := DefaultConfig().withDefaults().Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}
