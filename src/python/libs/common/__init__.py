"""Runtime helpers shared by the acme services: settings from the environment and logging."""
