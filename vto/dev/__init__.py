"""Developer tools: tiny random checkpoints and random-weight writers (tests and demos only;
production code never imports this package)."""
