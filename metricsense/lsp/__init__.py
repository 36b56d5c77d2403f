"""`msense lsp`: a language server for .msense specs and ```msense fences in Markdown (pygls 2).

Only `server.py` imports pygls; the feature modules take the checker's results and return
lsprotocol types, so each can be tested without a client. Nothing in the core imports this
package (the import-linter contracts in pyproject.toml), and the CLI imports it only inside
`msense lsp`.
"""
