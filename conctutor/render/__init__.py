"""Drawing a timeline, in the words a figure shows: `scene` lays it out once (with `words`, `typeset`, `legend`,
`colours`, `options`, `labels`); `drawing` (matplotlib), `svg` and `live` (frames while a block runs) draw it,
`perfetto` exports it, `themes` holds the looks. `views` is what the engine reaches, lazily. Imports only the engine.
"""
