"""Data package: window/level presets, colour tables, label names, icons and the style sheet.

Read through :mod:`viewer.package_data`; no code lives here.
"""
