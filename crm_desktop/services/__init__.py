"""Domain rules as plain functions over a Session. No Qt, no HTTP, and never a commit:
the caller owns the transaction."""
