package daemon

// SdNotify is the production notifier, for tests that read the socket.
var SdNotify = sdNotify
