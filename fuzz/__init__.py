"""`make fuzz`: generated requests against the local stack; any 5xx or off-contract error body fails the run."""
