"""`kit dev`: the developer's side of the kit, in a source checkout: scaffold a new exercise
(`scaffold`) and check that every exercise is whole (`checks`: its files, stub and solution twins
(`twins`), metadata, catalogue, README row (`readme`), a stub that fails and a solution that
passes).

May import everything below `cli/`; only `cli/` imports it.
"""
