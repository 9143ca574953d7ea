"""The pytest plugin: collects *.scenario.yaml files and runs them."""
