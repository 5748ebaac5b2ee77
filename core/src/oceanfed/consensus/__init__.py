"""The sans-I/O consensus core: events in, actions out (see ROUNDS protocol in the README)."""
