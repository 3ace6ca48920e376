//go:build !linux

package proxy

import "net"

// fastPath is the Linux event loops; elsewhere every connection is served by fasthttp.
type fastPath struct{}

func (p *Proxy) serveFast(net.Listener) (bool, error) { return false, nil }

func (fp *fastPath) shutdown() {}

func (fp *fastPath) wait(<-chan struct{}) bool { return true }
