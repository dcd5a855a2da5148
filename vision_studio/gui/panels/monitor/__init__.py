"""The Training monitor: live curves, progress, log, Pause / Stop / Resume, past runs."""
