# Set-up and entry points; the README's two commands call these targets.
PYTHON ?= python

.PHONY: install install-dev demo reasoner-demo train-demo test test-fast lint format

install:
	$(PYTHON) -m pip install torch==2.13.0 || $(PYTHON) -m pip install "torch>=2.4"
	$(PYTHON) -m pip install -e .

install-dev:
	$(PYTHON) -m pip install torch==2.13.0 || $(PYTHON) -m pip install "torch>=2.4"
	$(PYTHON) -m pip install -e ".[dev]"

# The main job: the shipped maze planner on mazes that change under it, solved warm and cold,
# with capped and fixed-depth sweeps and a size sweep (tables + plots).
demo: install
	$(PYTHON) -m train.evaluate --out runs/demo

# The reasoner alone: train on a toy chain task, then print iterations per sample.
reasoner-demo: install
	$(PYTHON) -m fpr_agents.reasoner

# A short PPO fine-tune of the shipped maze planner, then its evaluation.
train-demo: install
	rm -rf runs/train-demo
	$(PYTHON) -m train.ppo --config maze.yaml --pretrained fpr_agents/checkpoints/maze.safetensors \
		--total-timesteps 2048 --n-steps 64 --batch-size 128 --exp-name train-demo \
		--out runs/train-demo/ppo
	$(PYTHON) -m train.evaluate --checkpoint runs/train-demo/ppo/checkpoint.safetensors \
		--out runs/train-demo/eval

test: install-dev
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy
	$(PYTHON) -m pytest -q

# The same without the tests marked slow (under a minute); assumes `make install-dev` ran.
test-fast:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m pytest -q -m "not slow"

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
	$(PYTHON) -m mypy

format:
	$(PYTHON) -m ruff check --fix .
	$(PYTHON) -m ruff format .
