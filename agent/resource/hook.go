package resource

import "time"

// Hook is a command run after a pass's resources, only when a resource it
// watches changed (a reload). Every triggered hook runs even if another
// fails; a hook whose trigger was written but which has not succeeded yet
// runs again on the next pass.
type Hook struct {
	// Name identifies the hook ("reload-named").
	Name string
	// Watch lists resource IDs whose change triggers the hook.
	Watch []string
	// Commands run in order; the first failure stops the hook.
	Commands [][]string
	// Timeout bounds the whole hook (2 minutes when zero).
	Timeout time.Duration
}

// SecretUser is implemented by resources that need secrets, so that apply
// can refuse before changing anything when one is missing.
type SecretUser interface {
	SecretNames() []string
}
