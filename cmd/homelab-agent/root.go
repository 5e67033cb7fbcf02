package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
)

// Exit codes: 0 success, 1 failure, 2 usage error.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// usageError marks errors in how the command was called.
type usageError struct{ error }

// silentError is a failure whose details were already printed.
var silentError = errors.New("")

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "homelab-agent",
		Short: "Converge homelab VMs from a git-managed lab repo",
		Long: `homelab-agent turns a lab repo (homelab.yaml and the files it names) into
running infrastructure: inside each VM it renders config files, runs
containers, applies the firewall and schedules backups; on a Proxmox node it
creates the VMs; and it restores a service's data from its backups.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newValidate(), newPlan(), newApply(), newRender(), newVersion())
	root.AddCommand(newBootstrap())
	root.AddCommand(newRun(), newStatus(), newInstall())
	root.AddCommand(newBackup(), newSnapshots(), newRestore(), newBackupDump())
	root.AddCommand(newSecrets())
	return root
}

func execute(args []string) int {
	root := newRoot(os.Stdout, os.Stderr)
	root.SetArgs(args)
	err := root.Execute()
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(os.Stderr, "homelab-agent: %v\nRun 'homelab-agent --help' for usage.\n", err)
		return exitUsage
	case errors.Is(err, silentError):
		return exitFail
	default:
		fmt.Fprintf(os.Stderr, "homelab-agent: %v\n", err)
		return exitFail
	}
}

// logger logs to stderr as text; the daemon logs to the journal.
func logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

// exactArgs wraps cobra's argument check as a usage error.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError{fmt.Errorf("%s takes no arguments, got %q", c.CommandPath(), args)}
	}
	return nil
}
