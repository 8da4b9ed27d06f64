"""The configuration entities of an account, as validated pydantic documents."""
