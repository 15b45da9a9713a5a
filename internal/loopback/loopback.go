// Package loopback tells the hosts of this machine's loopback interface
// from the others, for the settings that send a secret unencrypted only
// there.
package loopback

import (
	"net"
	"strings"
)

// Host reports whether host (without port or brackets) is localhost or a
// loopback IP address (127.0.0.0/8, ::1).
func Host(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
