"""Reading the installed megatron-core's source (with `ast`, without importing it): its slots,
the call sites that build them, what their parents construct directly. Used by the commands
that compare descriptions with a release (`check`, `infer`) and by the tests; the generation
stages never read upstream source.
"""
