"""The command line: options, commands, rendering, outcome to exit code."""
