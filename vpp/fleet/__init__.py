"""Synthetic fleets for scale tests: a realistic mix of enterprises and assets, bulk-written.

``mix`` draws the fleet (pure, seeded); ``repository`` writes it in a few bulk statements.
``vpp fleet generate --assets N`` is the command-line face.
"""
