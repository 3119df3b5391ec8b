package httpev

import (
	"context"
	"errors"
	"time"
)

// Run serves until ctx ends, then shuts down gracefully, giving requests in
// flight up to grace to finish, and closes what is left: the Go form of
// running the EV loop until told to stop, and the end of most programs'
// main (with ctx from signal.NotifyContext for SIGINT and SIGTERM). It
// returns Shutdown's error (context.DeadlineExceeded when grace ran out)
// joined with Close's.
func (s *Server) Run(ctx context.Context, grace time.Duration) error {
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := s.Shutdown(sctx)
	return errors.Join(err, s.Close())
}
