"""The bottom layer of the engine: errors, clock, strict JSON, canonical JSON, blob codec, value rules,
u64 casts, the worker pool and the asyncio facade. Nothing here imports any other lashdb package.
"""
