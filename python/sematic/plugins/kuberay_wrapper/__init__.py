"""Ray-on-Kubernetes (KubeRay) wrappers."""
