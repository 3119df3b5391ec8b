//go:build !linux

package main

import (
	"context"
	"errors"
	"net"
)

// floorServer is Linux only (raw epoll, see floor.go); elsewhere the other
// servers still build and run.
type floorServer struct{}

func (floorServer) serve(context.Context, net.Listener) error {
	return errors.New("hello: -server floor needs Linux (epoll)")
}
