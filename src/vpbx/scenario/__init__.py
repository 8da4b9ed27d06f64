"""The scenario engine: a pure state machine from call events to actions."""
