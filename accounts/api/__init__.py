"""The accounts REST API: personal API tokens (mounted at ``api/auth/``)."""
