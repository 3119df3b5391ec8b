// Package httpev is an HTTP/1.1 server library with CGI-style ergonomics,
// modelled on Perl's HTTP::Server::EV: a request object with the CGI
// environment, GET/POST parameters, cookies and received files; uploads
// streamed from the socket straight into temp files, never held in memory,
// with progress callbacks while they arrive; a non-blocking output buffer;
// and a choice between running every callback on one loop goroutine (as on
// the EV event loop, so ported code needs no locks) or each in its own
// goroutine.
//
// A server answering every request:
//
//	srv, _ := httpev.New(httpev.Options{})
//	srv.Listen(8080, func(c *httpev.CGI) {
//		c.Header(nil)
//		fmt.Fprintf(c, "hello %s\n", c.Param("name"))
//	}, httpev.ListenOptions{})
//
// # From Perl
//
//	HTTP::Server::EV                         httpev
//	HTTP::Server::EV->new({tmp_path=>...})   New(Options{TmpPath: ...})
//	  cleanup_on_destroy, backend            Options.CleanupOnDestroy, Options.Backend
//	$server->listen($port, sub{}, {...})     Server.Listen(port, func(*CGI), ListenOptions{...})
//	  threading => 1, timeout => 60          ListenOptions.Threading, ListenOptions.Timeout
//	  on_multipart, on_file_open             ListenOptions.OnMultipart, OnFileOpen
//	  on_file_write, on_file_received        ListenOptions.OnFileWrite, OnFileReceived
//	  on_error                               ListenOptions.OnError
//	$server->cleanup                         Server.Cleanup
//	PortListener->stop / ->start             PortListener.Stop / Start
//	$cgi->{get}{name}, $cgi->{post}{name}    CGI.Get(name), CGI.Post(name)
//	$cgi->param('name')                      CGI.Param(name), CGI.Params(name)
//	$cgi->{cookies}{name}                    CGI.Cookie(name)
//	$cgi->{file}{name}                       CGI.File(name)
//	$cgi->{env}{REQUEST_METHOD}              CGI.Env("REQUEST_METHOD"), CGI.Envs()
//	                                         (no HTTP_* for a header named with '_': CGI.RequestHeader)
//	$cgi->header({...})                      CGI.Header(http.Header{...}) ("Status" sets the status)
//	$cgi->set_cookies({...}, $lifetime)      CGI.SetCookies(map, lifetime)
//	$cgi->attach(local *STDOUT); print ...   CGI.Attach(&w); fmt.Fprint(w, ...) or CGI.Print
//	$cgi->buffer->flush / flush_wait         CGI.Flush / CGI.FlushWait(done)
//	$cgi->close / $cgi->drop                 CGI.Close / CGI.Drop (keep a request with CGI.Keep)
//	$cgi->fh                                 CGI.Conn, CGI.GiveUpHandle
//	$cgi->start_timer / flush_timer          CGI.StartTimer / CGI.FlushTimer
//	$cgi->stop / $cgi->start                 CGI.Stop / CGI.Start (pause the body)
//	$file->{name}, {size}, {path}            MultipartFile.Name, Size, Path
//	$file->fh, $file->save($dst)             MultipartFile.Open, Save (OpenAsync, SaveAsync)
//	HTTP::Server::EV::IO::Blocking / ::AIO   BlockingIO / AsyncIO (Options.IO)
//	SimpleHTTP HANDLERS / SETHANDLERS        NewHandlerTable, HandlerTable.SetHandlers, Server.ListenHandlers
//	SimpleHTTP STREAM (dont_flush)           CGI.Stream (CGI.Keep + Flush + Close)
//	SimpleHTTP SETCLOSEHANDLER               CGI.AddCloseHandler
//	SimpleHTTP LOGHANDLER / LOG2HANDLER      ListenOptions.OnRequestLog / OnResponseLog, AccessLog
//	SimpleHTTP SHUTDOWN [GRACEFUL]           Server.Close / Shutdown, PortListener.Close / Shutdown
//
// # Fitting in with net/http
//
// NewHTTPHandler mounts a CGI callback in a net/http server; ServeHandler
// serves an http.Handler on httpev's engine; package httpevtest runs
// callbacks in tests without opening a port.
//
// # Threading
//
// With ListenOptions.Threading off (the default) every callback of the
// server — request callbacks, multipart callbacks, completion callbacks —
// runs on one loop goroutine, one at a time (a request callback that finds
// the loop idle runs on its connection's goroutine holding the loop: the
// same exclusion and order without two switches of goroutine). Callbacks
// must then not block:
// output is buffered and sent by the connection's own goroutine, and
// blocking calls have callback forms (FlushWait, SaveAsync, OpenAsync);
// a callback that must wait (a database query) hands the wait to
// CGI.Async, which runs it off the loop once the callback has returned.
// With Threading on callbacks of different requests run concurrently, each
// on the goroutine that serves its connection, which has nothing else to do
// while its request is answered (output the callback flushes while still
// running is sent by a helper goroutine, so the callback never waits on the
// network). On most systems that is the connection's own goroutine. On
// Linux the requests of plain TCP connections are served by the server's
// event loop instead (internal/poller), from the connection's accept on: a
// callback that blocks there for a millisecond, or a socket that must wait
// for its client, is handed a goroutine of its own while the loop goes on,
// and a listener whose callbacks are slow gets a goroutine per ready
// connection again (ListenOptions.Threading has the details; README's "How
// a request flows" lists the files a request crosses).
//
// # Locking
//
// The order of the package's mutexes is written once, under LOCKING in
// server.go; internal/poller and internal/rawfd document their own.
package httpev
