// CoreDNS for the real test node, with only the plugins its Corefile uses
// (tests/harness/realnode.py): CoreDNS's own way to choose plugins at compile time is a
// main package that imports them, as its coredns.go imports all of core/plugin. The
// cloud DNS, tracing and storage plugins are left out, which roughly halves a cold build.
package main

import (
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"

	"github.com/coredns/coredns/coremain"
)

func main() {
	coremain.Run()
}
