# Two entry points: `make demo` and `make test`. Both create and reuse .venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(VENV)/bin/liveinspect demo --out out/demo

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check liveinspect tests bench

clean:
	rm -rf out .pytest_cache
