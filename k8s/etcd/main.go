// etcd 3.6 for the tests/kube control plane, built from its Go module: Debian ships
// 3.4, below the minimum Kubernetes v1.36 supports. This is etcd's own main, unchanged.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
