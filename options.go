package httpev

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/netip"
	"time"
)

// Options configures a Server. The zero value is usable: every zero field
// takes the default named in its comment, which for the limits is the value
// the Perl original compiled in.
type Options struct {
	// TmpPath is the directory for received files. It is created (0700) when
	// missing; New fails if it cannot be. Default "./upload_tmpfiles/".
	TmpPath string
	// CleanupOnDestroy makes Close empty TmpPath. Do not set it when several
	// processes share one TmpPath.
	CleanupOnDestroy bool

	// Backend takes REMOTE_ADDR from the X-Real-IP header set by a reverse
	// proxy. With TrustedProxies empty every peer is believed (the original's
	// behaviour); otherwise only peers inside one of the prefixes are, so a
	// client connecting directly cannot spoof its address.
	Backend        bool
	TrustedProxies []netip.Prefix

	// LegacyCharset names the charset used to decode a GET/POST/cookie value
	// whose bytes are not valid UTF-8 (the original used "windows-1251").
	// Empty means no fallback: invalid bytes become U+FFFD.
	LegacyCharset string

	// Request-head limits. Overflow answers 414 (URL) or 431 (the others)
	// and closes the connection.
	MaxURL         int // request target bytes; default 8192 (RFC 9112 §3 asks for 8000 at least)
	MaxHeaderName  int // default 4096
	MaxHeaderValue int // default 4096
	MaxHeaders     int // default 100
	MaxHeaderBytes int // the whole head; default 65536 (not in the original, which had no total)

	// Form limits. MaxFormBody bounds an urlencoded body held in memory
	// (413 past it); MaxFormFields the pairs in a query, body or multipart form.
	MaxFormBody   int64 // default 100 KB
	MaxFormFields int   // default 1024
	// MaxFieldName and MaxFieldValue bound one multipart form field (files
	// are not limited by them). Defaults 4 KB and 50 KB.
	MaxFieldName  int
	MaxFieldValue int
	// MaxFileSize caps one uploaded file, MaxRequestBody a whole multipart or
	// raw-to-file body; 0 means unlimited, as in the original.
	MaxFileSize    int64
	MaxRequestBody int64

	// ReadBufferSize is the per-connection socket read buffer; default 8 KB.
	ReadBufferSize int
	// FlushThreshold is how much output a Buffer gathers before it starts
	// sending on its own; default 50 KB. It also bounds, when under 4 KB,
	// the answers to pipelined requests held back to share one write.
	// MaxBuffered is the high-water mark: a write that would take the
	// pending output past it fails with ErrBufferFull instead of growing
	// memory; default 4 MB.
	FlushThreshold int
	MaxBuffered    int

	// IdleTimeout closes a keep-alive connection that sends no new request
	// for this long; default 60 s, negative disables.
	IdleTimeout time.Duration
	// NoIdlePark keeps every idle keep-alive connection on a goroutine of
	// its own, and every connection accepted by Go and served on its own
	// goroutine. By default, on Linux, a plain (not TLS) connection waits
	// for its next request in one epoll set per server, watched by one
	// poller goroutine, with no goroutine of its own: on a Threading-on
	// listener a TCP connection does so from its accept on and the poller
	// serves its requests itself (see ListenOptions.Threading);
	// any other connection parks after 100 ms idle and gets a new
	// goroutine when its next request arrives. An idle connection then
	// costs about 3-4 KB instead of about 8 KB. IdleTimeout still applies.
	// Other systems never park.
	NoIdlePark bool
	// DrainWindow is how long, in a graceful shutdown (Server.Shutdown,
	// PortListener.Shutdown, a restart's hand-over), an idle keep-alive
	// connection stays open for a request its client may already have
	// sent: such a request is served and answered with Connection: close,
	// where closing at once would reset it unanswered (HTTP/1.1 cannot
	// tell an idle client that the server is leaving). At most half of
	// what the Shutdown context leaves; default 1 s, negative disables.
	DrainWindow time.Duration
	// WriteTimeout drops a connection whose client accepts no output for this
	// long (to within 1/64 of it: the deadline is not re-armed for every
	// small write); default 60 s, negative disables.
	WriteTimeout time.Duration

	// IO selects the disk backend for received files; nil means the async
	// backend.
	IO IO

	// MaxConns bounds the connections served at once, over all listeners;
	// 0 means no bound. Past it the server stops accepting, so new clients
	// wait in the kernel's listen backlog, or with RejectOverload they are
	// accepted, answered 503 with Retry-After and closed.
	MaxConns       int
	RejectOverload bool
	// MaxCallbacks bounds the request callbacks running at once on
	// Threading-on listeners; 0 means no bound. A request past it waits for
	// a slot before its callback starts (its connection goroutine waits;
	// nothing else does).
	MaxCallbacks int

	// MaxRetries is how many times a listener re-opens its socket after a
	// non-temporary accept error before giving up; default 5.
	MaxRetries int
	// ServerName is sent in the Server header; default "httpev".
	ServerName string
	// Headers are added to every response that does not set them itself
	// (SimpleHTTP's HEADERS), e.g. security headers.
	Headers http.Header
	// Hostname is SERVER_NAME for requests that carry no Host (HTTP/1.0),
	// SimpleHTTP's HOSTNAME; default os.Hostname().
	Hostname string
	// ProxyMode keeps absolute-form request targets
	// ("GET http://example.com/x") whole in REQUEST_URI, for a server acting
	// as a proxy (SimpleHTTP's PROXYMODE). Off, REQUEST_URI is the path and
	// query only, as for an origin server.
	ProxyMode bool
	// Logger receives the server's own log lines; default slog.Default().
	Logger *slog.Logger
}

// ListenOptions configures one listener: how its callbacks run and the
// multipart progress callbacks, as in the original's listen() options.
type ListenOptions struct {
	// Threading runs request callbacks concurrently with other
	// connections' callbacks. Off (the default, as in the original) every
	// callback of the server runs on one loop goroutine, one at a time, so
	// ported code needs no locks (a request callback that finds the loop
	// idle runs on its connection's goroutine while it holds the loop: the
	// same exclusion and order, without handing the request over).
	//
	// Where a Threading-on callback runs: on its connection's goroutine;
	// on Linux, for a plain TCP connection, on the server's poller
	// goroutine, which accepts the connection outside Go's netpoller and
	// reads, parses, calls back and writes for every ready connection in
	// turn, with no goroutine switch (about 1.2 times fasthttp's
	// throughput, keep-alive or a connection per request; README has the
	// figures). A callback there may block: a read or write that has to
	// wait for the client, or Keep, hands the poller to a new goroutine at
	// once;
	// anything else that has run for a millisecond (one to two ticks of a
	// watcher) too; the callback's goroutine then stays its connection's.
	// When the listener's requests average more than 200 µs on the poller,
	// its ready connections get a goroutine each again for a second, so
	// callbacks that wait on databases or other servers keep their
	// concurrency; and for a second after a new connection's first request
	// had to wait for its client, new connections are accepted by Go and
	// get goroutines, so a flood of slow clients does not queue up on the
	// poller. A TCP listener passed to Server.Listen (inherited from
	// systemd or a parent process) is accepted the same way.
	// Options.NoIdlePark turns the poller off.
	Threading bool
	// Timeout drops a request that is not fully received after this long
	// without socket activity, and one whose head has not fully arrived
	// this long after its first byte (so a client trickling a header byte
	// at a time cannot hold a connection for days); both answer 408.
	// Default 60 s; negative disables. A fully received request is never
	// timed out by it.
	Timeout time.Duration

	// OnMultipart is called when a multipart body starts arriving.
	OnMultipart func(c *CGI)
	// OnFileOpen is called when a file part starts, its temp file open.
	OnFileOpen func(c *CGI, f *MultipartFile)
	// OnFileWrite is called after each chunk of a file is on disk, so
	// f.Size() shows progress and the chunks concatenate to the file.
	OnFileWrite func(c *CGI, f *MultipartFile, chunk []byte)
	// OnFileReceived is called when a file is complete.
	OnFileReceived func(c *CGI, f *MultipartFile)
	// RawBodyToFile streams any body that is not a form (a PUT of a file,
	// application/octet-stream, curl -T) into a temp file like a multipart
	// file, with the same callbacks; it shows up in Files with an empty
	// field name. Off, such a body is left for the callback to read (Body).
	RawBodyToFile bool

	// OnBadRequest receives a request the server rejects before its
	// callback could run (malformed or over a head limit), SimpleHTTP's
	// catch-all for malformed requests: the status is already set (400, 414,
	// 431, ...), c.Err() tells why, and what it writes is the response body.
	// The connection closes after it. Nil answers with a short text.
	OnBadRequest func(c *CGI)
	// OnRequestLog runs before a request's callback (SimpleHTTP's
	// LOGHANDLER) with the client's address; c is nil for a malformed
	// request.
	OnRequestLog func(c *CGI, remoteIP string)
	// OnResponseLog runs after each response is sent or the request is
	// dropped (LOG2HANDLER), with the status and bytes sent; see AccessLog
	// for a ready Apache combined-format logger.
	OnResponseLog func(e LogEntry)

	// TLS serves HTTPS. Set TLSConfig, or CertFile and KeyFile (SSLKEYCERT)
	// with an optional ChainFile of intermediate certificates
	// (SSLINTERMEDIATECACERT).
	TLSConfig *tls.Config
	CertFile  string
	KeyFile   string
	ChainFile string
	// ReusePort sets SO_REUSEPORT so that several processes (or listeners)
	// can share the port, the kernel spreading connections among them.
	ReusePort bool
	// ForkHook runs once the socket is bound and before the first accept:
	// where a pre-forking program would fork (fork_hook in the original).
	// Go cannot fork; hand l.File() to child processes instead.
	ForkHook func(l *PortListener)

	// OnError is called when the server drops a request it has a request
	// object for (limit overflow, timeout, client gone) or the application
	// calls Drop.
	OnError func(c *CGI)
}

const (
	defaultTmpPath        = "./upload_tmpfiles/"
	defaultMaxURL         = 8 << 10
	defaultMaxHeaderName  = 4096
	defaultMaxHeaderValue = 4096
	defaultMaxHeaders     = 100
	defaultMaxHeaderBytes = 64 << 10
	defaultMaxFormBody    = 100 << 10
	defaultMaxFormFields  = 1024
	defaultMaxFieldName   = 4 << 10
	defaultMaxFieldValue  = 50 << 10
	defaultReadBuffer     = 8 << 10
	defaultFlushThreshold = 50 << 10
	defaultMaxBuffered    = 4 << 20
	defaultTimeout        = 60 * time.Second
	defaultMaxRetries     = 5
	defaultServerName     = "httpev"
	maxGetValue           = 4 << 10
)

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func orInt64(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

func orDuration(v, def time.Duration) time.Duration {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// withDefaults fills zero fields; a timeout of 0 afterwards means disabled.
func (o Options) withDefaults() Options {
	if o.TmpPath == "" {
		o.TmpPath = defaultTmpPath
	}
	o.MaxURL = orInt(o.MaxURL, defaultMaxURL)
	o.MaxHeaderName = orInt(o.MaxHeaderName, defaultMaxHeaderName)
	o.MaxHeaderValue = orInt(o.MaxHeaderValue, defaultMaxHeaderValue)
	o.MaxHeaders = orInt(o.MaxHeaders, defaultMaxHeaders)
	o.MaxHeaderBytes = orInt(o.MaxHeaderBytes, defaultMaxHeaderBytes)
	o.MaxFormBody = orInt64(o.MaxFormBody, defaultMaxFormBody)
	o.MaxFormFields = orInt(o.MaxFormFields, defaultMaxFormFields)
	o.MaxFieldName = orInt(o.MaxFieldName, defaultMaxFieldName)
	o.MaxFieldValue = orInt(o.MaxFieldValue, defaultMaxFieldValue)
	o.ReadBufferSize = orInt(o.ReadBufferSize, defaultReadBuffer)
	o.FlushThreshold = orInt(o.FlushThreshold, defaultFlushThreshold)
	o.MaxBuffered = orInt(o.MaxBuffered, defaultMaxBuffered)
	o.IdleTimeout = orDuration(o.IdleTimeout, defaultTimeout)
	o.WriteTimeout = orDuration(o.WriteTimeout, defaultTimeout)
	o.DrainWindow = orDuration(o.DrainWindow, defaultDrainWindow)
	o.MaxRetries = orInt(o.MaxRetries, defaultMaxRetries)
	if o.ServerName == "" {
		o.ServerName = defaultServerName
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}
