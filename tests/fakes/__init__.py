"""Stand-ins for remote services the tests cannot reach, served for real on 127.0.0.1."""
