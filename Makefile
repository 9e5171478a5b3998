# Two entry points for people and CI:  `make tryon` (a try-on) and `make test` (the test suite).
# Everything installs into ./.venv; torch==2.13.0 comes first so nothing pulls a CUDA build, and
# every install uses constraints/fidelity.txt (the verified stack: OpenCV 4.7.0.72, NumPy 1.26).

PYTHON      ?= python3
VENV        ?= .venv
BIN         := $(VENV)/bin
PY          ?= $(BIN)/python
VTO         ?= $(BIN)/vto
CONSTRAINTS := constraints/fidelity.txt
SHARED      ?= ../shared/examples
PERSON      ?= $(SHARED)/person/model_1.png
GARMENT     ?= $(SHARED)/garment/03244_00.jpg
TINY        ?= .cache/tiny-checkpoint
OUT         ?= out
# Where `vto download` links the weights: $VTO_CHECKPOINTS, else vto's default
# (~/.cache/vto/checkpoints); the files themselves live in the Hugging Face cache.
CHECKPOINTS ?= $(VTO_CHECKPOINTS)

.PHONY: install tryon tryon-run demo test services browser clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	@# "vto" was this project's distribution name before vto-tryon; never two of them.
	-@$(BIN)/pip uninstall --quiet --yes vto >/dev/null 2>&1
	$(BIN)/pip install --quiet -e '.[dev]' -c $(CONSTRAINTS)
	touch $@

# A real try-on of the example photos: download the hd weights (progress bar, resumable, into
# the Hugging Face cache) and dress the person with the automatic mask. Where the Hub cannot be
# reached, `vto download` says so in one line and the tiny-checkpoint demo runs instead.
tryon: install
	@$(MAKE) --no-print-directory tryon-run

tryon-run:
	@if $(VTO) download --model hd $(if $(CHECKPOINTS),--dir $(CHECKPOINTS)) >/dev/null; then \
		$(VTO) tryon $(if $(CHECKPOINTS),--checkpoints $(CHECKPOINTS)) --model-type hd \
			--person $(PERSON) --garment $(GARMENT) --steps 20 --save-mask --out $(OUT); \
	else \
		echo "make tryon: running the offline demo instead: a tiny checkpoint with random weights," \
		     "so $(OUT)/0.png is noise, not clothes"; \
		$(MAKE) --no-print-directory demo; \
	fi

# The tiny random checkpoint (noise, not clothes) and a torso mask, at a small size: seconds on
# a CPU, no network. Random weights find no person, hence the user mask.
demo:
	@test -d $(TINY) || $(VTO) dev tiny-checkpoint $(TINY) >/dev/null
	@$(PY) -c "from PIL import Image, ImageDraw; m = Image.new('L', (768, 1024)); \
		ImageDraw.Draw(m).rectangle((190, 300, 580, 760), fill=255); m.save('$(TINY)/demo-mask.png')"
	$(VTO) tryon --checkpoints $(TINY) --person $(PERSON) --garment $(GARMENT) \
		--mask $(TINY)/demo-mask.png --size 192x256 --steps 4 --device cpu --save-mask --out $(OUT)

# Redis and PostgreSQL are part of the test environment (queue adapters); start them if down.
services:
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || redis-server --daemonize yes --bind 127.0.0.1 -::1 \
		--port 6379 --save "" --appendonly no --dir /tmp --logfile /tmp/vto-redis.log
	@pg_isready -h 127.0.0.1 -q 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect \
		$$(ls /etc/postgresql | head -n 1) main start || true

# Browser tests drive Debian's Chromium (never a downloaded browser).
browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installable: browser tests will be skipped"

test: install services browser
	$(PY) -m pytest

clean:
	rm -rf $(VENV) .cache $(OUT)
