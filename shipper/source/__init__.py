"""The source stage: finds the log files, follows them by identity, cuts them into lines."""
