"""The browser target: builds and serves the static site that runs an exported model on the user's device."""
