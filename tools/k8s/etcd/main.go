// Command etcd is the upstream etcd server, built from Go modules so the test control plane
// does not depend on Debian's (too old) etcd package or a downloaded release binary.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
