package main

import (
	"fmt"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// A client that crashed, hung or was SIGKILLed may leave its connection open (a docker exec whose
// attach the daemon keeps, a Modal exec that keeps its sandbox "active"): the agent must not wait
// for an EOF that never comes. With --heartbeat-timeout the client sends a request (at least
// /v1/heartbeat) more often than that; when none arrives in time the agent kills everything it
// started and exits.
type heartbeatWatchdog struct {
	lastNano atomic.Int64
}

var watchdog heartbeatWatchdog

func (d *heartbeatWatchdog) start(timeout time.Duration) {
	d.lastNano.Store(time.Now().UnixNano())
	if timeout <= 0 {
		return
	}
	go func() {
		tick := timeout / 10
		if tick < 10*time.Millisecond {
			tick = 10 * time.Millisecond
		}
		for range time.Tick(tick) {
			if time.Since(time.Unix(0, d.lastNano.Load())) > timeout {
				fmt.Fprintf(os.Stderr, "berth-agent: no heartbeat for %s; killing every process and exiting\n", timeout)
				closeAllChildren()
				killDescendants()
				os.Exit(3)
			}
		}
	}()
}

// wrap counts every request as a heartbeat.
func (d *heartbeatWatchdog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.lastNano.Store(time.Now().UnixNano())
		next.ServeHTTP(w, r)
	})
}
