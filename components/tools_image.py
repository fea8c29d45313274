"""The tools image (this repo's Dockerfile): what every workload running it must agree on."""

TOOLS_UID = 10001
"""The image's non-root user and group (numeric, so Kubernetes can check runAsNonRoot)."""
