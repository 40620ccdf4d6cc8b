# SpleenScope: `make run` opens the viewer, `make test` runs the whole suite.
# Both create .venv and install everything the project needs first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Sample data lives beside the checkout (../shared/data); override to point elsewhere.
SPLEENSCOPE_SAMPLE_DATA ?= $(abspath ../shared/data)
export SPLEENSCOPE_SAMPLE_DATA

.PHONY: install system-packages run test lint bench train-model ct-robustness clean fuzz

# Debian packages the tests use: a real X server and screen grabs for window tests,
# a real PACS (Orthanc) with DCMTK as a second DICOM peer, dciodvfy for DICOM checks,
# headless chromium to open the survey report.
# Installed where apt-get exists and we are root (CI, these machines); elsewhere the
# tests that need them skip and say what to install.
SYSTEM_PACKAGES := xvfb xauth xdotool imagemagick orthanc orthanc-dicomweb dcmtk dicom3tools \
	libxcb-xinerama0 libxkbcommon-x11-0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 \
	libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 \
	libgl1 libegl1 libfontconfig1 libdbus-1-3 chromium

system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		if ! dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1; then \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
		fi; \
	else \
		echo "not root or no apt-get: install $(SYSTEM_PACKAGES) by hand for the window and PACS tests"; \
	fi

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,lint,cluster]'
	touch $(STAMP)

install: system-packages $(STAMP)

run: install
	@if [ -d "$(SPLEENSCOPE_SAMPLE_DATA)/ct_spleen_dicom" ]; then \
		$(PY) main.py view "$(SPLEENSCOPE_SAMPLE_DATA)/ct_spleen_dicom" \
			--mask "$(SPLEENSCOPE_SAMPLE_DATA)/ct_spleen_dicom_label.nii.gz"; \
	else \
		echo "sample data not found at $(SPLEENSCOPE_SAMPLE_DATA); opening the synthetic phantom"; \
		$(PY) main.py view --phantom; \
	fi

test: install
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q
	# every test with a Qt window again on a real X server (pytest-xvfb starts one, size
	# in pyproject.toml): partial repaints and screen sizes that offscreen grabs hide.
	# The `window` mark is given in tests/conftest.py to each test that uses Qt.
	QT_QPA_PLATFORM=xcb $(PY) -m pytest -q -m window

# ruff, then the layer rules ([tool.importlinter] in pyproject.toml).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# Fuzz the readers (minutes; not part of make test): 1,000 damaged inputs derived from
# the sample data through every file-reading command, then 100,000 coverage-guided
# atheris runs of the header readers. Each prints its figures; any failure stops it.
fuzz: install
	$(PY) -m pip install -q -e '.[fuzz]'
	nice -n 10 $(PY) -m tests.fuzz.runner --count 1000
	nice -n 10 $(PY) -m tests.fuzz.atheris_headers -atheris_runs=100000

# Each script prints one JSON line of figures.
bench: install
	@for script in tests/benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

# Retrain every bundled model: the CT model on the sample CT (~20 min on 2 idle cores)
# and its simulated-geometry scores, then the MR model with its 4-fold cross-validation
# over the 12 MR patients (fold models in models/mr_cv/).
train-model: install
	nice -n 10 $(PY) -m segmentation.train_bundled --threads 2
	nice -n 10 $(PY) -m segmentation.ct_geometries --threads 2
	nice -n 10 $(PY) -m segmentation.train_mr --threads 2

# The bundled CT model against the robust fine-tune recipe and against joint CT+MR
# training (leave-slices-out folds, simulated geometries, smallest cross-sections,
# volume; one JSON line each, written into the CT model's training record). About
# 30 + 20 min of CPU on 2 idle cores.
CT_ROBUSTNESS_WORK ?= /tmp/spleenscope_ct_robustness
CT_JOINT_WORK ?= /tmp/spleenscope_ct_joint_mr
ct-robustness: install
	nice -n 15 $(PY) -m segmentation.ct_robustness --previous-model models/spleen_unet2d.pt \
		--work $(CT_ROBUSTNESS_WORK) --blocks superior --folds-only
	nice -n 15 $(PY) -m segmentation.ct_robustness --previous-model models/spleen_unet2d.pt \
		--work $(CT_ROBUSTNESS_WORK) --blocks inferior --from-scratch --epochs 10 --folds-only
	nice -n 15 $(PY) -m segmentation.ct_robustness --previous-model models/spleen_unet2d.pt \
		--robust-model $(CT_ROBUSTNESS_WORK)/robust_superior.pt --work $(CT_ROBUSTNESS_WORK) \
		--blocks superior inferior --record models/spleen_unet2d.training.json
	# joint CT+MR training against the bundled recipe: both from scratch, 10 epochs, each
	# block held out; the superior folds' models are scored as the finished models
	nice -n 15 $(PY) -m segmentation.ct_robustness --previous-model models/spleen_unet2d.pt \
		--work $(CT_JOINT_WORK) --recipes previous joint_mr --blocks superior inferior \
		--from-scratch --epochs 10 --folds-only --threads 2
	nice -n 15 $(PY) -m segmentation.ct_robustness --work $(CT_JOINT_WORK) \
		--previous-model $(CT_JOINT_WORK)/previous_superior.pt \
		--joint-mr-model $(CT_JOINT_WORK)/joint_mr_superior.pt --recipes previous joint_mr \
		--blocks superior inferior --from-scratch --epochs 10 --threads 2 \
		--record models/spleen_unet2d.training.json --record-as joint_mr_comparison

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
