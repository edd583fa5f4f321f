"""One module per ``functions/<name>/`` (the same name): that function's construct and what only it uses."""
