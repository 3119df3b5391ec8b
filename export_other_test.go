//go:build !linux

package httpev

// startPoller: no poller on other systems (export_test.go).
func startPoller(*Server) {}
