"""run: the study process and its trial processes: the study loop, the trial targets it is handed, the worker
protocol, what the fork server loads once (preload), trial outcomes, heartbeats and recovery, kept models, GPUs, fault
injection (a wrapper around a target),
progress, and `confirm`.

May import: every lower layer (hpsearch.numbers, hpsearch.errors, trial, search, spec, store, train).
Never results or the CLI.
"""
