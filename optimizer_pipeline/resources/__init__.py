"""Resource and IO-manager classes; they read no environment variables (``defs/resources.py`` binds them)."""
