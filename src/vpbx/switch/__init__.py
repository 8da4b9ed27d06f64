"""The switch (B2BUA): executes the engine's actions on real SIP calls."""
