"""The client registry (clients.yaml): clients, hashtags, competitors and each client's test-loop block."""
