package httpev

// Stream produces the response piece by piece without holding the
// callback's goroutine (SimpleHTTP's STREAM): next writes one piece (Print,
// Write) and reports whether more follow; the server sends the piece and
// calls next again once it has been written to the client, so a slow client
// slows the producer and memory stays bounded by one piece. When next
// returns false the response is finished. Pieces go out chunked (HTTP/1.1)
// or close-delimited (HTTP/1.0); set Content-Type text/event-stream with
// Header first for server-sent events. next runs like any other callback:
// on the loop goroutine with Threading off.
//
// For SimpleHTTP's dont_flush mode, where the application decides when the
// next piece comes (a timer, an event), call Keep and then write and Flush
// whenever a piece is ready, and Close at the end.
func (q *CGI) Stream(next func(c *CGI) (more bool)) {
	q.Keep()
	var step func(err error)
	step = func(err error) {
		if err != nil {
			return // client gone: OnError and the Buffer's OnError report it
		}
		if !next(q) {
			q.Close()
			return
		}
		if err := q.out.FlushWait(step); err != nil {
			q.cn.srv.logDebug("httpev: stream", "err", err)
		}
	}
	q.cn.l.exec.async(func() { step(nil) })
}
