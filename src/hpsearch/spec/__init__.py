"""spec: a search-space file -> a validated StudySpec, and every declarative fact a file is checked against.

Owns: the line-tracking YAML `reader`, the `catalog` of hyperparameters and its `recommended` priors, the
`entry` forms of a space dimension, the `schema` of the study: and task: sections, reading the `sections`,
the `normalise`d space, the `rules` across sections and the `collector` of their findings, the StudySpec
and its loading (`space`), `objectives`, `suggest` (an entry -> Optuna's suggest call), and the facts other
layers implement: task names and their metrics (`tasks`), the built-in model and data set (`assets`), the
storage URL rules (`storage_url`), the experiment trackers of `task.report_to` (`trackers`).
May import: hpsearch.numbers, hpsearch.errors, hpsearch.search. Never torch, transformers, or a database connection:
`hpsearch validate` and `hpsearch --help` stay fast.
"""
