// Command hbuild builds buildout profiles hermetically, part by part, in
// containers, and turns the parts into OCI images.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRootCmd().ExecuteContext(ctx)
	stop()
	os.Exit(exitCode(err))
}

// exitCode maps an error to hbuild's exit status: 0 success, 2 usage
// errors, 1 everything else (build or input errors).
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ue *usageError
	if errors.As(err, &ue) || strings.HasPrefix(err.Error(), "unknown command ") {
		fmt.Fprintf(os.Stderr, "hbuild: %v\nRun 'hbuild --help' for usage.\n", err)
		return 2
	}
	var se silentError
	if !errors.As(err, &se) {
		fmt.Fprintf(os.Stderr, "hbuild: %v\n", err)
	}
	return 1
}
