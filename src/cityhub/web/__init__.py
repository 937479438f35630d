"""The thin web layer: parse the request, call an action, render or serialise its result."""
