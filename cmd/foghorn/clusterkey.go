package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// cmdClusterKey writes a fresh gossip key for [cluster] key_file: 32
// random bytes (AES-256-GCM), base64, mode 0600. It never overwrites: a
// key replaced on one node only would split the cluster in silence.
func cmdClusterKey(args []string, stdout, stderr io.Writer) int {
	fs := newFlags("cluster-key", stdout, stderr)
	if code, ok := fs.parse(args); !ok {
		return code
	}
	path := fs.Args()[0]
	if err := writeClusterKey(path); err != nil {
		fmt.Fprintln(stderr, "foghorn cluster-key:", err)
		return 1
	}
	fmt.Fprintf(stderr, "wrote a new gossip key to %s (mode 0600)\ncopy it to every node of the cluster and set [cluster] key_file = %q\n", path, path)
	return 0
}

func writeClusterKey(path string) error {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("no randomness: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s exists; a cluster's nodes must share one key, so it is not replaced (remove it first to make a new one, then copy the new one to every node)", path)
	}
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(f, base64.StdEncoding.EncodeToString(key)); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
