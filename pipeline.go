package httpev

import (
	"time"
)

// Pipelined answers share one write. A client that pipelines (sends its
// next requests without waiting for the answers: TechEmpower's plaintext
// test, HTTP proxies, some API clients) leaves several requests in the
// read buffer at once. Writing each answer with its own write(2) made
// plaintext with 16 requests per connection cost one system call per
// request, 61k req/s against fasthttp's 488k, which writes once per batch.
//
// The rule: a finished response is held back (kept in conn.hdr, not
// written) when the read buffer already holds at least one byte of the
// next request. It is written together with the next piece of output on
// the connection, whatever that is: the next answer (once the buffer runs
// dry, all answers held so far go out in one write), an error answer, a
// 100 Continue, a streamed or flushed piece, the bytes of GiveUpHandle.
// Any byte, not a complete head: parsing the head to decide would cost a
// scan per request, and a partial head needs no special case, because
// held bytes are written before any read of the socket (connReader's
// beforeRead, and awaitRequest before an idle wait): a held answer never
// waits on the client sending more. Both rules give the same writes.
//
// Held answers never wait long on the server either:
//
//   - holdWait after the first answer of a batch was held, a timer writes
//     what is held: a later request's callback that blocks (a database
//     call, a MaxCallbacks slot, the loop goroutine busy with other
//     connections) delays the earlier answers by at most that;
//   - a callback that keeps its request (Keep: long poll, stream) wakes
//     the pump, which writes them at once;
//   - on every close (finishConn), they are written first: an answer
//     with Connection: close after a framing error still follows the
//     answers before it.
//
// The hold is bounded by holdLimit: what is held, with the next answer,
// stays under smallWrite (4 KB, the size under which a response is copied
// rather than written with writev) or FlushThreshold if smaller. Past it
// the held bytes and the answer go out in one writev.
//
// Everything here runs under conn.wmu: the held bytes are c.hdr[:c.held].

// holdWait bounds how long an answer may be held while later requests of
// its batch are served: one tick of the poller's watcher, the time after
// which it takes a callback for a slow one (internal/poller, Tuning.Tick).
// A batch of 16 small pipelined answers takes about 30 µs to serve, so
// the timer only fires when a callback waits.
const holdWait = time.Millisecond

// holdLimit is the most output held back on a connection.
func (c *conn) holdLimit() int { return min(smallWrite, c.srv.opts.FlushThreshold) }

// mayHold reports whether the final piece of q's response, out (held
// answers included), may be held back rather than written now (wmu held,
// perhaps q.out.mu too; the head already built: appendHead has set
// closeConn).
func (c *conn) mayHold(q *CGI, abort bool, n int) bool {
	return n <= c.holdLimit() && c.cr.buffered() > 0 && !abort &&
		!q.closeConn && !c.req.Close && q.frame != frameClose &&
		!q.bodyBroken() && !c.closing.Load() && !c.gaveUp.Load()
}

// hold keeps out (held answers and a finished one) for the next write;
// wmu held.
func (c *conn) hold(out []byte) {
	if c.held == 0 {
		if c.holdTimer == nil {
			c.holdTimer = time.AfterFunc(c.srv.holdWait, c.flushLate)
		} else {
			c.holdTimer.Reset(c.srv.holdWait)
		}
		c.holding.Store(true)
	}
	c.hdr, c.held = out, len(out)
}

// released records that the held bytes went out with a write (or failed
// with it); wmu held.
func (c *conn) released() {
	if c.held == 0 {
		return
	}
	c.held = 0
	c.holding.Store(false)
	c.holdTimer.Stop()
}

// flushHeld writes the held answers, if any. A failure is kept (werr):
// every later write on the connection reports it.
func (c *conn) flushHeld() error {
	if !c.holding.Load() {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushHeldLocked()
}

func (c *conn) flushHeldLocked() error {
	if c.held == 0 {
		return nil
	}
	c.setWriteDeadline()
	n, err := c.nc.Write(c.hdr[:c.held])
	c.st.countOut(int64(n))
	c.released()
	if err != nil {
		c.werr = err
	}
	return err
}

// flushLate is the hold timer's: a later request's callback is taking
// its time.
func (c *conn) flushLate() { _ = c.flushHeld() }
