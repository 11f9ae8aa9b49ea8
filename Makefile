# Two commands do everything on a fresh machine with Python 3.10+ and make:
#   make lab    set up what is missing, then open JupyterLab on notebooks/
#   make test   set up what is missing, then run the whole test suite
#
# The setup makes a virtual environment in .venv, installs PyTorch there
# unless a usable torch is already importable from it, installs course_lib
# in editable mode with its test extra, and registers the Jupyter kernel.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of this release installs from local wheels on the course's
# CI machines; any torch>=2.1 that is already in .venv is kept instead.
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.course-installed

.PHONY: setup lab test lint notebooks exercises bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (course)"
	touch $(STAMP)

lab: $(STAMP)
	$(BIN)/python -m course_lib.tools.lab

test: $(STAMP)
	bash tests/run_all.sh $(BIN)

lint: $(STAMP)
	$(BIN)/ruff check course_lib tests bench

# Re-execute every chapter notebook in place, as committed: kernel restarted,
# run all, on the CPU.
notebooks: $(STAMP)
	COURSE_DEVICE=cpu OMP_NUM_THREADS=1 $(BIN)/python -m course_lib.tools.execute notebooks/*.ipynb

# Regenerate exercises/ from solutions/ with nbgrader.
exercises: $(STAMP)
	$(BIN)/python -m course_lib.tools.instructor release

# Run every benchmark and rewrite the tables in BENCHMARKS.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV)
