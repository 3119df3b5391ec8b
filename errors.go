package httpev

import "errors"

// Sentinel errors, for errors.Is.
var (
	// ErrBufferFull is returned by a write that would take a request's
	// unsent output past Options.MaxBuffered.
	ErrBufferFull = errors.New("httpev: output buffer full")
	// ErrRequestFinished is returned by a write after the response ended.
	ErrRequestFinished = errors.New("httpev: request already finished")
	// ErrWouldBlock is returned by a call that would block the loop
	// goroutine of a Threading-off listener; use its callback form.
	ErrWouldBlock = errors.New("httpev: call would block the loop goroutine; pass a callback")
	// ErrClientGone means the client closed or reset the connection.
	ErrClientGone = errors.New("httpev: client went away")
	// ErrDropped means the application dropped the request.
	ErrDropped = errors.New("httpev: request dropped")
	// ErrServerClosed is returned by Listen after Close or Shutdown, and is
	// the cause of requests cut by Close.
	ErrServerClosed = errors.New("httpev: server closed")
	// ErrAlreadyListening is returned by Listen for an address the server
	// already listens on.
	ErrAlreadyListening = errors.New("httpev: already listening on this address")
	// ErrTooLarge is the cause of a request dropped for exceeding a size
	// limit; the client got 413, 414 or 431.
	ErrTooLarge = errors.New("httpev: request exceeds a limit")
	// ErrHandleGivenUp is returned by output calls after GiveUpHandle.
	ErrHandleGivenUp = errors.New("httpev: connection handed to the application")

	// ErrCallbackPanicked is the cause of an upload failed because one of
	// its callbacks (OnMultipart, OnFileOpen, OnFileWrite, OnFileReceived)
	// panicked; the client got 500 and the request callback did not run.
	ErrCallbackPanicked = errors.New("httpev: upload callback panicked")

	errTimeout = errors.New("httpev: timed out waiting for the client")
)
