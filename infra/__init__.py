"""Deployment tooling: packaging, the Lambda wheel cache, the infra stack for `chalice deploy` (not shipped)."""
