"""The sans-I/O consensus core: events in, actions out (the protocol is docs/protocol.md)."""
