"""authentik-reconciler: GitOps for authentik stages."""
