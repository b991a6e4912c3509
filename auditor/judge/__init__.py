"""Judge: policies, their evaluation, and the one verdict summary every face prints."""
