"""Optional integrations, each an app of its own that imports its third-party package only inside itself."""
