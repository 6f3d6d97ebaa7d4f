"""run: the study process and its trial processes: the study loop, the worker protocol, what the fork server
loads once (preload, shared), trial outcomes, heartbeats and recovery, kept models, GPUs, fault injection,
progress, and `confirm`.

May import: every lower layer (hpsearch.numbers, hpsearch.errors, search, spec, store, train). Never results or the CLI.
"""
