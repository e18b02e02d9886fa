"""Drawing a timeline: `scene` lays it out once, in the words a figure shows; `drawing` (matplotlib), `svg` and
`live` (frames while a block runs) draw it, `perfetto` exports it, `themes` holds the looks. Imports only the engine.
"""
