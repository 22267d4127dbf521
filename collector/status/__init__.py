"""Customer status pages and their JSON."""
