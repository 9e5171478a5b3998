# Two entry points for people and CI:  `make tryon` (a try-on) and `make test` (the test suite).
# Everything installs into ./.venv; torch==2.13.0 comes first so nothing pulls a CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SHARED ?= ../shared/examples
TINY   ?= .cache/tiny-checkpoint
OUT    ?= out

.PHONY: install tryon test services browser clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# A try-on with the example photos. With real weights (VTO_CHECKPOINTS=DIR, see `vto download`)
# it runs the full automatic path; without, it uses a tiny random checkpoint (noise, not
# clothes) and a torso mask, at a small size so it takes seconds on a CPU.
tryon: install
ifdef VTO_CHECKPOINTS
	$(BIN)/vto tryon --person $(SHARED)/person/model_1.png --garment $(SHARED)/garment/03244_00.jpg \
		--steps 20 --out $(OUT)
else
	@test -d $(TINY) || $(BIN)/vto dev tiny-checkpoint $(TINY)
	$(BIN)/python -c "from PIL import Image, ImageDraw; m = Image.new('L', (768, 1024)); \
		ImageDraw.Draw(m).rectangle((190, 300, 580, 760), fill=255); m.save('$(TINY)/demo-mask.png')"
	$(BIN)/vto tryon --checkpoints $(TINY) --person $(SHARED)/person/model_1.png \
		--garment $(SHARED)/garment/03244_00.jpg --mask $(TINY)/demo-mask.png \
		--size 192x256 --steps 4 --device cpu --save-mask --out $(OUT)
endif

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
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) .cache $(OUT)
