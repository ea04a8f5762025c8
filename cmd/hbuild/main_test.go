package main

import (
	"errors"
	"testing"
)

func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"version"}, 0},
		{[]string{"--no-such-flag"}, 2},
		{[]string{"version", "extra"}, 2},
		{[]string{"frob"}, 2},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(tc.args)
		err := cmd.Execute()
		if got := exitCode(err); got != tc.want {
			t.Errorf("hbuild %v: exit %d (err %v), want %d", tc.args, got, err, tc.want)
		}
	}
	if exitCode(errors.New("boom")) != 1 {
		t.Error("plain error should exit 1")
	}
}
