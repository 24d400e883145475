"""`monitor ui`: the live topic table and the incident page every alert links to (`generatorURL`).

A separate process (it can run next to the workers or anywhere that reaches the cluster): `follower.py` reads
`sentiment.windows`, `alerts` and the negative records of `posts.scored` from Kafka into a small bounded SQLite store
(`store.py`), `pages.py` renders server-side HTML and SVG charts from it (pure; every string escaped), `server.py`
serves them with a strict Content-Security-Policy, bound to 127.0.0.1 unless configured (a token is then required).
No build step, no JavaScript toolchain: one small script refreshes the live table."""
