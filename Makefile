# SpleenScope: `make run` opens the viewer, `make test` runs the whole suite.
# Both create .venv and install everything the project needs first.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Sample data lives beside the checkout (../shared/data); override to point elsewhere.
SPLEENSCOPE_SAMPLE_DATA ?= $(abspath ../shared/data)
export SPLEENSCOPE_SAMPLE_DATA

.PHONY: install run test lint bench train-model clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch first and pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[test,lint]'
	touch $(STAMP)

install: $(STAMP)

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

lint: install
	$(VENV)/bin/ruff check .

# Each script prints one JSON line of figures.
bench: install
	@for script in tests/benchmarks/bench_*.py; do $(PY) $$script || exit 1; done

# Retrain the bundled model (models/spleen_unet2d.pt) on the sample CT: ~20 min on 2 cores.
train-model: install
	nice -n 10 $(PY) -m segmentation.train_bundled --threads 2

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
