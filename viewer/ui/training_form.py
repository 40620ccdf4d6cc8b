"""The training dialog's form: which data, the settings and the advanced settings.

:class:`TrainingForm` holds the widgets on the left of the training dialog and
turns them into :class:`~viewer.training_protocol.TrainingSettings`; it starts
nothing. Its "Check data" button and any change of the data choice are signals the
dialog (:mod:`viewer.ui.training_dialog`) answers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from segmentation import registry
from viewer import model_card
from viewer.grid import VIEW_NAMES
from viewer.training_protocol import TrainingSettings

log = logging.getLogger(__name__)


def _spin(low: int, high: int, value: int, name: str, special: str | None = None) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setValue(value)
    box.setObjectName(name)
    if special:
        box.setSpecialValueText(special)
    return box


def _double(low, high, value, step, decimals, name) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(low, high)
    box.setDecimals(decimals)
    box.setSingleStep(step)
    box.setValue(value)
    box.setObjectName(name)
    return box


class TrainingForm(QWidget):
    """Data choice, settings and advanced settings, with the data check's verdict."""

    check_requested = pyqtSignal()
    data_choice_changed = pyqtSignal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._build_data_group())
        layout.addWidget(self._build_settings_group())
        layout.addWidget(self._build_advanced_group())
        layout.addStretch(1)
        self.setMaximumWidth(430)
        self.refresh_collection_label()
        self.refresh_active_model()

    # ------------------------------------------------------------------ building
    def _build_data_group(self) -> QGroupBox:
        group = QGroupBox("Training data")
        self.source_collection = QRadioButton()
        self.source_collection.setObjectName("source_collection")
        self.source_collection.setToolTip(
            "Cases saved with Training ▸ Add this case to my training set")
        self.source_folder = QRadioButton("Dataset folder (imagesTr/ + labelsTr/):")
        self.source_folder.setObjectName("source_folder")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.source_collection)
        self.source_group.addButton(self.source_folder)
        self.source_collection.setChecked(True)
        self.folder_edit = QLineEdit()
        self.folder_edit.setObjectName("data_folder")
        self.folder_edit.setPlaceholderText("e.g. …/Task09_Spleen")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_folder)
        self.check_button = QPushButton("Check data")
        self.check_button.setObjectName("check_data")
        self.check_button.clicked.connect(lambda _c=False: self.check_requested.emit())
        self.data_status = QLabel("Not checked yet")
        self.data_status.setObjectName("data_status")
        self.data_status.setWordWrap(True)
        self.problem_list = QListWidget()
        self.problem_list.setObjectName("data_problems")
        self.problem_list.setMaximumHeight(110)
        self.problem_list.setWordWrap(True)
        self.problem_list.hide()
        for widget in (self.source_collection, self.source_folder):
            widget.toggled.connect(self._data_choice_changed)
        self.folder_edit.textChanged.connect(self._data_choice_changed)

        folder_row = QHBoxLayout()
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(browse)
        status_row = QHBoxLayout()
        status_row.addWidget(self.data_status, 1)
        status_row.addWidget(self.check_button)
        layout = QVBoxLayout(group)
        layout.addWidget(self.source_collection)
        layout.addWidget(self.source_folder)
        layout.addLayout(folder_row)
        layout.addLayout(status_row)
        layout.addWidget(self.problem_list)
        return group

    def _build_settings_group(self) -> QGroupBox:
        defaults = TrainingSettings(output=Path("model.pt"))
        group = QGroupBox("Settings")
        form = QFormLayout(group)
        self.epochs = _spin(1, 2000, defaults.epochs, "epochs")
        self.learning_rate = _double(1e-5, 0.1, defaults.learning_rate, 1e-4, 5, "learning_rate")
        self.batch_size = _spin(1, 256, defaults.batch_size, "batch_size")
        self.axis = QComboBox()
        self.axis.setObjectName("axis")
        for name in VIEW_NAMES:
            self.axis.addItem(name.capitalize(), name)
        self.val_fraction = _double(0.0, 0.9, defaults.val_fraction, 0.05, 2, "val_fraction")
        self.device = QComboBox()
        self.device.setObjectName("device")
        for text, key in _device_choices():
            self.device.addItem(text, key)
        self.start_from = QComboBox()
        self.start_from.setObjectName("start_from")
        self.start_from.currentIndexChanged.connect(self._start_from_changed)
        self.model_name = QLineEdit(model_card.default_model_name())
        self.model_name.setObjectName("model_name")
        form.addRow("Epochs", self.epochs)
        form.addRow("Learning rate", self.learning_rate)
        form.addRow("Batch size", self.batch_size)
        form.addRow("Slice axis", self.axis)
        form.addRow("Validation fraction", self.val_fraction)
        form.addRow("Device", self.device)
        form.addRow("Start from", self.start_from)
        form.addRow("Model name", self.model_name)
        return group

    def _build_advanced_group(self) -> QWidget:
        defaults = TrainingSettings(output=Path("model.pt"))
        # a folding arrow rather than a checkable group box: nothing is drawn while folded
        toggle = QToolButton()
        toggle.setObjectName("advanced_toggle")
        toggle.setText("Advanced (network and sampling)")
        toggle.setCheckable(True)
        toggle.setChecked(False)
        toggle.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        toggle.setArrowType(Qt.RightArrow)
        toggle.setAutoRaise(True)
        self.advanced_group = toggle
        body = QWidget()
        self.advanced_body = body
        form = QFormLayout(body)
        form.setContentsMargins(18, 0, 0, 0)
        self.steps_per_epoch = _spin(0, 100000, defaults.steps_per_epoch or 0,
                                     "steps_per_epoch", "one pass over the slices")
        self.steps_per_epoch.setToolTip(
            "20 steps of a batch suit a few cases on a CPU (the bundled model's recipe); "
            "for a large dataset on a GPU choose 'one pass over the slices' (0)")
        self.patch_size = _spin(32, 1024, defaults.patch_size, "patch_size")
        self.patch_size.setSingleStep(32)
        self.base_channels = _spin(2, 128, defaults.base_channels, "base_channels")
        self.depth = _spin(1, 6, defaults.depth, "depth")
        self.spacing = _double(0.25, 10.0, defaults.spacing_mm, 0.25, 2, "spacing")
        self.spacing.setSuffix(" mm")
        self.threads = _spin(0, 256, 0, "threads", "automatic")
        form.addRow("Steps per epoch", self.steps_per_epoch)
        form.addRow("Patch size (pixels)", self.patch_size)
        form.addRow("UNet base channels", self.base_channels)
        form.addRow("UNet depth", self.depth)
        form.addRow("In-plane spacing", self.spacing)
        form.addRow("CPU threads", self.threads)
        outer_widget = QWidget()
        outer = QVBoxLayout(outer_widget)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(toggle)
        outer.addWidget(body)
        body.setVisible(False)
        toggle.toggled.connect(body.setVisible)
        toggle.toggled.connect(
            lambda shown: toggle.setArrowType(Qt.DownArrow if shown else Qt.RightArrow))
        return outer_widget

    def refresh_collection_label(self) -> None:
        folder = registry.user_collection_dir()
        count = len(list((folder / "imagesTr").glob("*.nii*")))
        self.source_collection.setText(
            f"My training set ({count} case{'' if count == 1 else 's'})"
        )

    def _start_from_changed(self, *_args) -> None:
        """A fine-tuned model keeps its parent's network and spacing: those fields rest."""
        scratch = self.start_from.currentData() is None
        for widget in (self.base_channels, self.depth, self.spacing):
            widget.setEnabled(scratch)

    def refresh_active_model(self) -> None:
        self.start_from.clear()
        self.start_from.addItem("From scratch (new network)", None)
        active = registry.active_model_path()
        if active.is_file():
            self.start_from.addItem(f"Fine-tune the active model ({active.stem})", str(active))

    def _browse_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Training data folder")
        if folder:
            self.set_data_folder(folder)

    def set_data_folder(self, folder: str | Path | None) -> None:
        """Choose a dataset folder (None: the user's own training set)."""
        if folder is None:
            self.source_collection.setChecked(True)
            return
        self.folder_edit.setText(str(folder))
        self.source_folder.setChecked(True)

    def data_folder(self) -> tuple[str, Path | None]:
        """``("collection" | "folder", path)``; path is None when no folder is typed."""
        if self.source_collection.isChecked():
            return "collection", registry.user_collection_dir()
        text = self.folder_edit.text().strip()
        return "folder", Path(text).expanduser() if text else None

    def _data_choice_changed(self, *_args) -> None:
        self.data_status.setText("Not checked yet")
        self.problem_list.clear()
        self.problem_list.hide()
        self.data_choice_changed.emit()

    # ------------------------------------------------------------ the data check
    def show_checking(self) -> None:
        self.data_status.setText("Checking the data…")
        self.problem_list.hide()
        self.check_button.setEnabled(False)

    def show_check(self, summary: str, problems: list[str]) -> None:
        """The data check's verdict: its summary, and its problems when there are any."""
        self.check_button.setEnabled(True)
        self.data_status.setText(summary)
        if problems:
            self.show_problems(problems)
        else:
            self.problem_list.hide()

    def show_problems(self, problems: list[str]) -> None:
        """List what keeps the data or the settings from being used."""
        self.problem_list.clear()
        self.problem_list.addItems(problems)
        self.problem_list.show()
        if not self.data_status.text() or self.data_status.text().startswith("Not checked"):
            self.data_status.setText("The data cannot be used yet:")
        log.info("training data problems: %d", len(problems))

    def settings(self, output: Path | None = None) -> TrainingSettings:
        """The settings the widgets show (``output`` is the staging checkpoint)."""
        source, folder = self.data_folder()
        name = model_card.safe_model_name(self.model_name.text() or "spleen_model")
        if output is None:
            staging = model_card.staging_dir(registry.user_models_dir())
            output = staging / f"{name}.pt"
        init = self.start_from.currentData()
        return TrainingSettings(
            output=output,
            data=folder,
            epochs=self.epochs.value(),
            learning_rate=self.learning_rate.value(),
            batch_size=self.batch_size.value(),
            axis=self.axis.currentData(),
            val_fraction=self.val_fraction.value(),
            device=self.device.currentData(),
            init_from=Path(init) if init else None,
            steps_per_epoch=self.steps_per_epoch.value() or None,
            patch_size=self.patch_size.value(),
            base_channels=self.base_channels.value(),
            depth=self.depth.value(),
            spacing_mm=self.spacing.value(),
            threads=self.threads.value() or None,
        )

    def set_editing_enabled(self, enabled: bool) -> None:
        for widget in (self.source_collection, self.source_folder, self.folder_edit,
                       self.check_button, self.epochs, self.learning_rate, self.batch_size,
                       self.axis, self.val_fraction, self.device, self.start_from,
                       self.model_name, self.advanced_group, self.advanced_body):
            widget.setEnabled(enabled)
        if enabled:
            self._start_from_changed()


def _device_choices() -> list[tuple[str, str]]:
    """``(label, key)`` for the device box: automatic, CPU, and the GPUs torch can see."""
    from segmentation.devices import available_devices

    try:
        return [(label, key) for key, label in available_devices()]
    except ImportError:  # torch missing: the child will report it
        return [("Automatic (GPU if available)", "auto"), ("CPU", "cpu")]


