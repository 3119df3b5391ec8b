package memconn

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestListenerDeliverAccept(t *testing.T) {
	l := NewListener(Addr("srv"))
	assert.Equal(t, "srv", l.Addr().String())
	c, s := pair(0)
	go func() { assert.NoError(t, l.Deliver(context.Background(), s)) }()
	got, err := l.Accept()
	require.NoError(t, err)
	assert.Same(t, s, got)
	_ = c.Close()
}

func TestListenerClose(t *testing.T) {
	l := NewListener(Addr("srv"))
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, l.Close())
	assert.ErrorIs(t, <-done, net.ErrClosed)
	_, err := l.Accept()
	assert.ErrorIs(t, err, net.ErrClosed)
	_, s := pair(0)
	assert.ErrorIs(t, l.Deliver(context.Background(), s), net.ErrClosed)
	assert.ErrorIs(t, l.Close(), net.ErrClosed)
}

func TestListenerDeadline(t *testing.T) {
	l := NewListener(Addr("srv"))
	done := make(chan error, 1)
	go func() { _, err := l.Accept(); done <- err }()
	time.Sleep(10 * time.Millisecond)
	require.NoError(t, l.SetDeadline(time.Unix(1, 0)))
	assert.ErrorIs(t, <-done, os.ErrDeadlineExceeded)
	require.NoError(t, l.SetDeadline(time.Time{}))

	_, s := pair(0)
	go func() { _ = l.Deliver(context.Background(), s) }()
	got, err := l.Accept()
	require.NoError(t, err)
	assert.Same(t, s, got)
}

func TestDeliverCancelled(t *testing.T) {
	l := NewListener(Addr("srv"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, s := pair(0)
	assert.ErrorIs(t, l.Deliver(ctx, s), context.DeadlineExceeded, "nobody accepting")
}
