"""`inv monitor.dashboard`: the pipeline's figures live, in the terminal, as JSON, or in a page.

- `figures`: the bookkeeping (pure: no I/O), unit-tested on synthetic messages.
- `feed`: one MQTT subscription whose callback only stamps and enqueues each message (so a
  burst never loses a count); whoever draws drains the queue into the figures.
- `tui`: the terminal screen (rich), `web`: the local page (stdlib http.server, Server-Sent
  Events). Heavy imports happen only when one of them starts.
"""
