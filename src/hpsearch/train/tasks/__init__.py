"""Each task type's training code, one module per type; the registry of names is hpsearch.spec.tasks."""
