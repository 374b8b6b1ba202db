"""pexrun: fetch, verify and run a published release on any host."""
