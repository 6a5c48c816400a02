"""One module per service; each offers a local (embedded) and an AWS implementation."""
