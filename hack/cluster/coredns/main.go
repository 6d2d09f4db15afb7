// CoreDNS for the local cluster (hack/local-cluster.sh), with only the plugins its Corefile
// uses: cluster names and SRV records from the kubernetes plugin, and no upstream resolver (the
// cluster's network namespace has no route out).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugin chain's order, as in CoreDNS's plugin.cfg.
var directives = []string{"ready", "health", "errors", "loadbalance", "cache", "kubernetes"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
