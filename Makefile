# Two commands: `make run` (set up + main job) and `make test` (set up + tests).
# Both create .venv when missing and reinstall only when requirements.lock or
# pyproject.toml change; when already set up they print nothing but the job.
PY      ?= python3.11
VENV    := .venv
STAMP   := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PYTHONHASHSEED := 0

.PHONY: run test test-fast bench setup chromium clean-venv leaderboard

setup: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@command -v $(PY) >/dev/null || { echo "error: $(PY) not found; RestoreBench needs Python 3.11" >&2; exit 1; }
	@test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) (first time only, ~2 min)"
	@$(VENV)/bin/pip install -q -r requirements.lock 2>&1 | grep -v "is ignored: it is neither" || true
	@$(VENV)/bin/python -c "import numpy, torch, cv2, bpy, pandas" || { echo "error: dependency install failed" >&2; exit 1; }
	@$(VENV)/bin/pip install -q --no-deps --no-build-isolation -e . 2>&1 | grep -v "is ignored: it is neither" || true
	@touch $(STAMP)

run: $(STAMP)
	@$(VENV)/bin/python -m benchmarks.run --task all --quick --out results/quick

# The published full-split leaderboard (leaderboard/full/): the full benchmark, then its report and tables.
leaderboard: $(STAMP)
	@$(VENV)/bin/python -m benchmarks.run --task all --out results/full
	@rm -rf leaderboard/full && mkdir -p leaderboard/full
	@cp -r results/full/report/. leaderboard/full/
	@cp results/full/aggregates.csv results/full/differences.csv results/full/split_sizes.csv results/full/failures_summary.csv results/full/run.json leaderboard/full/
	@$(VENV)/bin/python -m leaderboard.summary results/full > leaderboard/full/summary.md

chromium:
	@command -v chromium >/dev/null || { command -v apt-get >/dev/null && (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) || echo "note: chromium not installed; the report browser test will skip"; }

test: $(STAMP) chromium
	@$(VENV)/bin/python -m pytest -q

test-fast: $(STAMP)
	@$(VENV)/bin/python -m pytest -q -m "not slow"

bench: $(STAMP)
	@$(VENV)/bin/python -m pytest -q --benchmark-only --benchmark-columns=min,mean,max,rounds

clean-venv:
	rm -rf $(VENV)
