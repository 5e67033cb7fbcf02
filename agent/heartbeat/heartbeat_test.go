package heartbeat_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/homelab-agent/homelab-agent/agent/heartbeat"
)

func TestBeatAndLogger(t *testing.T) {
	heartbeat.Beat(context.Background()) // no beat in the context: nothing happens
	beats := 0
	ctx := heartbeat.With(context.Background(), func() { beats++ })
	heartbeat.Beat(ctx)
	log := heartbeat.Logger(ctx, slog.New(slog.DiscardHandler)).With("k", "v").WithGroup("g")
	log.Info("one")
	log.Debug("below the level, still a beat")
	if beats < 3 {
		t.Fatalf("beats = %d, want at least 3 (Beat and two log calls)", beats)
	}
	if l := slog.New(slog.DiscardHandler); heartbeat.Logger(context.Background(), l) != l {
		t.Fatal("without a beat the logger must be returned as is")
	}
}
