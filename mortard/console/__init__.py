"""`mortard console`: a web console for the people who run the shop, reading the daemon's Postgres.

Server-rendered pages (Jinja2, autoescaped; no JavaScript), charts as inline SVG. Modules:
`app` builds the aiohttp application and serves it; `auth` hashes passwords, knows the users and
limits failed logins; `sessions` signs the session cookie; `security` is the middleware (login
required, CSRF on every POST, roles, secure headers); `pages` the read-only pages; `actions` what an
operator may do (retry, resolve, replay), each recorded with who did it; `charts` draws the SVG.
"""
