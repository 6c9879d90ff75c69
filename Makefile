# mlplab: `make train` and `make test` each set up what they need (venv, package, data) first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
RAW := data/FashionMNIST/raw
DEBIAN_DATA := /usr/share/datasets/fashion-mnist
# torch/torchvision known to work together here; elsewhere `make setup TORCH=... CONSTRAINTS=`
# (constraints.txt pins this torch).
TORCH ?= torch==2.14.1 torchvision==0.29.1
# The exact versions the README's numbers were measured with (`make constraints` rewrites it from
# the venv); `make setup CONSTRAINTS=` installs the newest versions pyproject.toml allows instead.
CONSTRAINTS ?= constraints.txt
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
# Free space a new venv needs (5.8 GB installed, plus pip's unpacking room).
VENV_NEEDS_GB := 8

.PHONY: setup data train test test-fast bench reproduce tensorboard lint clean constraints

setup: $(INSTALLED) data

$(INSTALLED): pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || { scripts/need_disk.sh . $(VENV_NEEDS_GB) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIN) $(TORCH)
	$(BIN)/pip install -q $(PIN) -e '.[dev,sweep]'
	touch $@

# After a deliberate upgrade: pin what the venv holds now (then `make reproduce` the README's numbers).
constraints: $(INSTALLED)
	$(BIN)/pip freeze --exclude-editable | LC_ALL=C sort -f > constraints.txt

# The four IDX files under data/: Debian's package when it is missing and apt is usable,
# else torchvision's download (the package decides, see mlplab.data.fashion_mnist).
data: $(INSTALLED)
	@if [ ! -f $(RAW)/t10k-labels-idx1-ubyte ] && [ ! -d $(DEBIAN_DATA) ] \
	    && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist; fi
	$(BIN)/python -m mlplab.data.fashion_mnist data

train: setup
	$(BIN)/mlplab-train experiment=d2l_mlp_scratch

# one pytest-xdist worker per CPU (tests/conftest.py gives each its own); the SLURM tests share one
test: setup
	$(BIN)/pytest -n auto --dist loadgroup

test-fast: setup
	$(BIN)/pytest -n auto --dist loadgroup -m "not slow"

# LOGS: where runs are (paths.log_dir; a conf/local preset may move it), or one sweep's folder
LOGS ?= logs
tensorboard: $(INSTALLED)
	$(BIN)/tensorboard --logdir $(LOGS)

lint: $(INSTALLED)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/lint-imports

clean:
	rm -rf logs .pytest_cache

bench: setup
	$(BIN)/python -m benchmarks $(ARGS)

# Every row of the README's chapter and best-MLP tables → docs/results.json and the README's cells
# (about 35 minutes here); `make reproduce ROWS="4.2 4.6.3"` runs some rows;
# `make reproduce ARGS="--this-machine --threads 1" ROWS=…` records this CPU's values only, on one
# thread as make test's workers run (the strict test's).
reproduce: setup
	$(BIN)/python scripts/reproduce.py $(ARGS) $(ROWS)
