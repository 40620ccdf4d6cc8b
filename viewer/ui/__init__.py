"""The Qt half of the viewer: main window, slice views, panels, dialogs, workers.

Everything here may import PyQt5 and pyqtgraph; nothing outside ``viewer.ui`` and
``viewer.cli.view`` may import this package.
"""
