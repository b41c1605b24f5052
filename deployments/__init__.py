"""Ray Serve deployments: thin wrappers over ``detectors`` plus the ingress and the graph builder."""
