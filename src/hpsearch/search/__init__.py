"""search: how the next values are chosen and when a trial is stopped: Optuna's samplers and pruners by
name (the registry), and hpsearch's own plug-ins (the prior sampler, the plateau pruner, per-trial reseeding,
the prior distributions they share).

Owns: `registry` (names -> Optuna classes, option checks), `prior`, `prior_sampler`, `plateau`, `reseed`.
May import: hpsearch.numbers, hpsearch.errors, Optuna. Nothing of the spec, the database or training: the spec names and
checks plug-ins through this layer, and the study loop builds them.
"""
