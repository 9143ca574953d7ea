"""Project-wide pytest settings. flowtest itself loads through its pytest11 entry point."""

collect_ignore_glob = ["reports/*", "node_modules/*", ".venv/*"]
