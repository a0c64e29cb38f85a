package slbsim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Server serves a Sim over HTTP.
type Server struct {
	// URL is the base URL, "http://127.0.0.1:port".
	URL string
	// Addr is the listening host:port, what an SDK client's Domain takes.
	Addr string

	sim    *Sim
	srv    *http.Server
	served chan struct{} // closed when Serve returned
	err    error         // Serve's error, other than ErrServerClosed
}

// Start creates a Sim and serves it on a free loopback port.
func Start(cfg Config) (*Sim, *Server, error) {
	return Listen("127.0.0.1:0", cfg)
}

// Listen creates a Sim and serves it on addr.
func Listen(addr string, cfg Config) (*Sim, *Server, error) {
	sim := New(cfg)
	srv, err := Serve(sim, addr)
	if err != nil {
		return nil, nil, err
	}
	return sim, srv, nil
}

// Serve serves sim on addr until Close or Shutdown.
func Serve(sim *Sim, addr string) (*Server, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("slbsim: listen on %s: %w", addr, err)
	}
	s := &Server{
		URL:  "http://" + ln.Addr().String(),
		Addr: ln.Addr().String(),
		sim:  sim,
		srv: &http.Server{
			Handler:           sim,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
		},
		served: make(chan struct{}),
	}
	go func() {
		defer close(s.served)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Sim returns the emulator this server serves.
func (s *Server) Sim() *Sim { return s.sim }

// Close stops the server at once: it releases the calls waiting out a
// latency or a Slow fault and closes every connection.
func (s *Server) Close() error {
	s.sim.Close()
	err := s.srv.Close()
	<-s.served
	return errors.Join(err, s.err)
}

// Shutdown stops accepting calls and answers those in progress, cutting
// short their latency or Slow wait, until ctx is done; then it closes like
// Close.
func (s *Server) Shutdown(ctx context.Context) error {
	s.sim.Close()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		err = fmt.Errorf("slbsim: shutdown: %w", err)
	}
	return errors.Join(err, s.Close())
}
