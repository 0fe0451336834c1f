"""Built-in methods, each a plugin exactly as a third-party package would write one."""
