"""Where the window's tools are built and wired together: the one place to read to
see which tool depends on what.

The main window (:class:`viewer.ui.main_window.MainWindow`) is the *shell*: the three
views, the image / readout / overlay panels, the menus, the status bar and loading.
Everything else is a *tool*, built here by :func:`build_tools` in dependency order,
each given exactly the objects it uses (no tool looks another up on the window)::

    shell ─┬─ MaskSession ─┬─ SegmentationTool (Segment action, options dock)
           │               ├─ ResultsPanel      ("Spleen" dock: volume, slices)
           │               ├─ QualityPanel      ("Self-check" dock: verdict, uncertainty)
           │               ├─ ReviewTool        (reference vs prediction, QA dock)
           │               ├─ SavingTool        (File > Save mask…, unsaved prompt)
           │               ├─ MaskEditTool      (Edit menu: brushes, undo)
           │               └─ TrainingTools     (Training menu)
           ├─ SurveyTool      (File > Survey folder…: table of a data folder)
           ├─ PacsTool        (File > PACS…, Send segmentation to PACS)
           ├─ WorklistTool    (File > Open batch results…, Worklist dock; opens
           │                   studies through the ReviewTool)
           └─ (new tools go here)

The built tools are kept in one :class:`Tools` record, ``window.tools``
(``window.tools.mask_session``, ``window.tools.review_tool``, ...), for the CLI's
``view --segment`` steps and for tests.

How a new tool plugs in
-----------------------
1. Put the logic in a controller with no widgets (Qt-free logic belongs in
   ``viewer/`` or ``segmentation/``; a controller that needs Qt signals or timers is a
   ``QObject`` in ``viewer/ui/<tool>.py``), and the widgets in a thin panel or dialog
   module next to it (``viewer/ui/<tool>_panel.py`` / ``<tool>_dialog.py``). The
   controller takes its dependencies as constructor arguments: the shell (typed
   ``MainWindow``; use only its public API, listed in its module docstring) and any
   other tool it needs (say the ``MaskSession``).
2. Write a ``_build_<tool>(shell, ...)`` function below that builds the controller
   and its panel and hooks them into the shell:

   - a dialog behind a File menu action::

         action = QAction("Open from &PACS…", shell)
         action.triggered.connect(lambda: open_pacs_dialog(shell, session))
         shell.add_file_action(action)        # listed under the Open actions

   - a dock panel::

         dock = shell.add_dock(panel, "Worklist")   # right column, in View > Panels
         shell.add_dock(panel, "Quality", Qt.LeftDockWidgetArea)

   - a menu of its own: ``shell.menu("&Quality")`` (created before Help);
     a toolbar button: ``shell.toolbar.addAction(action)``;
   - follow the open study: ``shell.document`` (:class:`viewer.document.Document`,
     Qt-free: ``volume_changed``, ``overlays_changed``, ``labels_edited(names,
     region)``, ``cursor_moved``, ``window_changed``, ...; ``connect(callable)``),
     or the shell's Qt signals over it (``shell.volume_changed``, ...), and the
     session's (``session.prediction_changed`` ...); an in-place edit of a mask is
     announced with ``shell.document.edit_labels(names, region)``;
   - an Open dialog: ``shell.ask_open_file(caption, filters)`` (starts where the
     user was);
   - work off the GUI thread only through
     :func:`viewer.ui.background.run_in_background` (progress, cancel, lifetime);
   - a veto before the window closes or another volume replaces this one:
     ``shell.add_close_guard(callable_returning_bool)``.
3. Add a field to :class:`Tools` and one line in :func:`build_tools` that calls your
   builder through ``_optional`` with the objects it needs. Import your module inside
   the builder, so ``spleenscope info`` never pays for it (torch, ...).

A builder that raises is logged and left out (its field stays ``None``), and the
window says so in the status bar: one broken tool must not keep the viewer from
opening.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PyQt5.QtWidgets import QApplication

if TYPE_CHECKING:  # only for the annotations: no import cycle, no import cost
    from PyQt5.QtWidgets import QDockWidget

    from viewer.ui.edit_tools import MaskEditTool
    from viewer.ui.main_window import MainWindow
    from viewer.ui.mask_session import MaskSession
    from viewer.ui.pacs_tool import PacsTool
    from viewer.ui.quality_panel import QualityPanel
    from viewer.ui.results_panel import ResultsPanel
    from viewer.ui.review_panel import ReviewTool
    from viewer.ui.saving import SavingTool
    from viewer.ui.segmentation_ui import SegmentationTool
    from viewer.ui.survey_dialog import SurveyTool
    from viewer.ui.training_ui import TrainingTools
    from viewer.ui.worklist_tool import WorklistTool

log = logging.getLogger(__name__)


@dataclass
class Tools:
    """Every tool the window was built with (``None``: it failed to build)."""

    mask_session: MaskSession | None = None
    segmentation_tool: SegmentationTool | None = None
    results_panel: ResultsPanel | None = None
    results_dock: QDockWidget | None = None
    quality_panel: QualityPanel | None = None
    quality_dock: QDockWidget | None = None
    review_tool: ReviewTool | None = None
    saving_tool: SavingTool | None = None
    edit_tool: MaskEditTool | None = None
    training_tools: TrainingTools | None = None
    worklist_tool: WorklistTool | None = None
    pacs_tool: PacsTool | None = None
    survey_tool: SurveyTool | None = None
    #: names of the tools that failed to build (shown in the status bar)
    failed: list[str] = field(default_factory=list)


def build_tools(shell: MainWindow) -> Tools:
    """Build every tool, wire it to the shell and to the tools it needs."""
    tools = Tools()

    def _optional(name: str, build: Callable[..., Any], *deps: Any) -> Any:
        try:
            return build(*deps)
        except Exception:
            log.exception("the %s tool failed to build; the window opens without it", name)
            tools.failed.append(name)
            return None

    tools.survey_tool = _optional("survey", _build_survey, shell)  # needs no mask session
    session = _optional("mask session", _build_session, shell)
    if session is None:
        return tools  # every tool below works on the session's masks
    tools.mask_session = session
    tools.segmentation_tool = _optional("segmentation", _build_segmentation, shell, session)
    results = _optional("results", _build_results, shell, session)
    if results is not None:
        tools.results_panel, tools.results_dock = results
    quality = _optional("self-check", _build_quality, shell, session)
    if quality is not None:
        tools.quality_panel, tools.quality_dock = quality
    tools.review_tool = _optional("review", _build_review, shell, session)
    tools.saving_tool = _optional("saving", _build_saving, shell, session)
    tools.edit_tool = _optional("mask editing", _build_editing, shell, session)
    tools.training_tools = _optional(
        "training", _build_training, shell, session, tools.segmentation_tool
    )
    tools.worklist_tool = _optional(
        "worklist", _build_worklist, shell, session, tools.review_tool
    )
    tools.pacs_tool = _optional("PACS", _build_pacs, shell, session)
    _group_right_docks(shell, tools)
    return tools


# ------------------------------------------------------------------ builders
def _build_session(shell: MainWindow) -> MaskSession:
    from viewer.ui.mask_session import MaskSession

    return MaskSession(shell)


def _build_segmentation(shell: MainWindow, session: MaskSession) -> SegmentationTool:
    from viewer.ui.segmentation_ui import SegmentationTool

    return SegmentationTool(shell, session)


def _build_results(shell: MainWindow, session: MaskSession):
    from viewer.ui.results_panel import ResultsPanel

    panel = ResultsPanel(session)
    dock = shell.add_dock(panel, "Spleen")
    session.prediction_changed.connect(
        lambda: session.prediction is not None and dock.raise_())
    return panel, dock


def _build_quality(shell: MainWindow, session: MaskSession):
    from viewer.ui.quality_panel import QualityPanel

    panel = QualityPanel(shell, session)
    dock = shell.add_dock(panel, "Self-check")
    return panel, dock


def _build_review(shell: MainWindow, session: MaskSession) -> ReviewTool:
    from viewer.ui.review_panel import ReviewTool

    return ReviewTool(shell, session)


def _build_saving(shell: MainWindow, session: MaskSession) -> SavingTool:
    from viewer.ui.saving import SavingTool

    return SavingTool(shell, session)


def _build_editing(shell: MainWindow, session: MaskSession) -> MaskEditTool:
    from viewer.ui.edit_tools import MaskEditTool

    return MaskEditTool(shell, session)


def _build_training(shell: MainWindow, session: MaskSession,
                    segmentation_tool: SegmentationTool | None) -> TrainingTools:
    from viewer.ui.training_ui import TrainingTools

    tools = TrainingTools(shell, session, segmentation_tool)
    app = QApplication.instance()
    if app is not None:
        app.aboutToQuit.connect(tools.shutdown)  # end a running training child
    return tools


def _build_survey(shell: MainWindow) -> SurveyTool:
    from viewer.ui.survey_dialog import SurveyTool

    return SurveyTool(shell)


def _build_pacs(shell: MainWindow, session: MaskSession) -> PacsTool:
    from viewer.ui.pacs_tool import PacsTool

    return PacsTool(shell, session)


def _build_worklist(shell: MainWindow, session: MaskSession, review: ReviewTool) -> WorklistTool:
    from viewer.ui.worklist_tool import WorklistTool

    if review is None:
        raise RuntimeError("the worklist opens studies through the review tool, which failed")
    return WorklistTool(shell, session, review)


def _group_right_docks(shell: MainWindow, tools: Tools) -> None:
    """The segmentation options join the overlay list's compact tab group; the
    results, self-check and review docks form the tall group (the shell arranges
    both: ``window_layout.WindowLayout._arrange_docks``)."""
    if tools.segmentation_tool is not None:
        shell.tabifyDockWidget(shell.overlay_dock, tools.segmentation_tool.dock)

